"""Privacy rights requests (policy section 四): intake, statuses, deadlines, erasure, cancellation, export."""
