"""Customer-facing texts of rights requests (templates/bot/<locale>/rights_*.txt) and the labels of kinds,
grounds and refusal reasons, in en and zh. Rendered here because the core tells customers results itself."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.paths import TEMPLATES

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "review": "review my information", "correct": "correct or add", "export": "copy / export",
        "delete": "delete my information", "authorization": "change authorization scope",
        "withdraw_consent": "withdraw consent", "cancel": "cancel my account", "complaint": "complaint",
        "unlawful": "processing violates laws or regulations", "no_consent": "collected without my explicit consent",
        "breach": "handling seriously violates our agreement", "purpose_done": "the purpose is achieved or no longer needed",
        "service_ended": "the service stopped or the storage period expired",
        "repeated": "the same request was made again without a reasonable cause",
        "excessive_means": "it would require excessive technical means", "others_rights": "it would put others' rights at risk",
        "impractical": "it is impractical", "unrelated": "the information is not directly related to you",
    },
    "zh": {
        "review": "查阅我的信息", "correct": "更正或补充", "export": "复制 / 导出", "delete": "删除我的信息",
        "authorization": "更改授权范围", "withdraw_consent": "撤回同意", "cancel": "注销账户", "complaint": "投诉",
        "unlawful": "处理违反法律法规", "no_consent": "未经我明确同意收集", "breach": "处理严重违反与我的约定",
        "purpose_done": "处理目的已实现或不再必要", "service_ended": "停止提供服务或保存期限已届满",
        "repeated": "无正当理由重复申请", "excessive_means": "需要过多技术手段", "others_rights": "会危及他人合法权益",
        "impractical": "不切实际", "unrelated": "与您本人无直接关系的信息",
    },
}


def label(name: str, locale: str) -> str:
    return LABELS.get(locale, LABELS["en"]).get(name, name)


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES / "bot"), autoescape=False,  # noqa: S701 - plain text
                       undefined=StrictUndefined)


def render(name: str, locale: str, **context: Any) -> str:
    locale = locale if locale in LABELS else "en"
    return _env().get_template(f"{locale}/{name}.txt").render(**context).strip()
