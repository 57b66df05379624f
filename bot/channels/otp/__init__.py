"""One-time code delivery (email and SMS) for the identity check: wired into the app at start-up."""

from __future__ import annotations

from aiohttp import web

from bot.channels.otp.courier import CodeCourier
from bot.channels.otp.sms_webhook import WebhookSmsProvider
from bot.context import AppContext
from bot.core.delivery.sms import ConsoleSmsProvider, SmsProvider

SERVICE = "verification_courier"


def make_sms_provider(ctx: AppContext) -> SmsProvider:
    settings = ctx.settings
    if settings.sms.provider == "webhook":
        return WebhookSmsProvider(settings.sms)
    return ConsoleSmsProvider(production=settings.mode == "production")


def setup(_app: web.Application, ctx: AppContext) -> None:
    courier = CodeCourier(
        factory=ctx.factory,
        settings=ctx.settings,
        hub=ctx.hub,
        wake=ctx.dispatcher.wake,
        email=ctx.dispatcher.senders.get("email"),
        sms=make_sms_provider(ctx),
    )
    ctx.services[SERVICE] = courier
    ctx.ingestor.on_committed.append(courier.committed)
    ctx.on_stop.append(courier.stop)
