"""The spec's request bodies, verbatim: the OpenAPI example, the smoke test and the tests use them."""

from typing import Any

# The spec's request example, whole.
SPEC_EXAMPLE: dict[str, Any] = {
    "features": [
        {
            "user_id": "user_000123",
            "item_id": "item_00456",
            "days_since_last_view": 2.5,
            "days_since_last_item_view": 5.0,
            "view_count_7d": 15,
            "view_count_30d": 45,
            "cart_count_7d": 2,
            "cart_count_30d": 5,
            "purchase_count_7d": 0,
            "purchase_count_30d": 1,
            "cart_to_purchase_ratio": 0.2,
            "avg_session_duration": 12.5,
            "session_item_count": 8,
            "session_duration_minutes": 15.0,
            "item_view_count": 3,
            "item_cart_count": 1,
            "item_price": 89.99,
            "item_base_price": 129.99,
            "item_discount_pct": 30.0,
            "item_category": "Electronics",
        }
    ],
    "return_probabilities": True,
    "threshold": 0.5,
}
# The spec's cURL body: only the required fields.
SPEC_CURL: dict[str, Any] = {
    "features": [
        {
            "user_id": "user_000123",
            "item_id": "item_00456",
            "item_price": 89.99,
            "item_base_price": 129.99,
            "item_discount_pct": 30.0,
            "item_category": "Electronics",
        }
    ],
    "return_probabilities": True,
    "threshold": 0.5,
}
# With the online store, the ids alone: a pair of the synthetic log `make serve` trains on and backfills.
SPEC_IDS: dict[str, Any] = {"user_id": "user_000123", "item_id": "item_00007"}
