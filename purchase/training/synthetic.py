"""A seeded synthetic e-commerce event log with a known purchase propensity.

Generative process, one day at a time for each (user, item) pair a user is interested in:
views ~ Poisson(rate), carts ~ Binomial(views, p_cart), and a purchase ~ Bernoulli(h(day)), where
the daily hazard h rises with the user's interest in the item and with the item's discount on
that day (items go on promotion week by week). Views and carts are noisy signals of the same
interest, so past behaviour predicts future purchases, and the exact probability of a purchase in
the next N days, 1 - prod(1 - h(day)), is known: the oracle.

The log uses the public e-commerce behaviour schema (see `events.EVENT_COLUMNS`), so the same
feature derivation runs on synthetic and real logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CATEGORY_CODES: tuple[str, ...] = (
    "electronics.smartphone",
    "clothing.shoes",
    "home.kitchen",
    "beauty.skincare",
    "sports.fitness",
    "books.fiction",
    "toys.games",
    "grocery.snacks",
)
CATEGORY_PRICE = np.array([300.0, 60.0, 80.0, 25.0, 70.0, 15.0, 30.0, 8.0])


def today() -> pd.Timestamp:
    """Midnight UTC today (naive, as the log's times): where a log generated now ends, so that features
    "as of now" see its last 30 days."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()


@dataclass(frozen=True)
class SyntheticLog:
    events: pd.DataFrame  # the public schema
    hazard: np.ndarray  # (pairs, days): the daily purchase probability
    pair_user: np.ndarray  # user_id of each pair
    pair_item: np.ndarray  # product_id of each pair
    start: pd.Timestamp  # midnight of the first day

    def oracle(self, user_ids: np.ndarray, item_ids: np.ndarray, as_of: pd.Series, horizon_days: int) -> np.ndarray:
        """True P(purchase in [as_of, as_of + horizon)) for each row; 0 for pairs with no interest."""
        index = pd.Series(
            np.arange(len(self.pair_user)), index=pd.MultiIndex.from_arrays([self.pair_user, self.pair_item])
        )
        pair = index.reindex(pd.MultiIndex.from_arrays([user_ids, item_ids])).to_numpy()
        day = ((pd.to_datetime(as_of) - self.start) // pd.Timedelta(days=1)).to_numpy()
        out = np.zeros(len(pair))
        known = ~np.isnan(pair)
        for k in np.flatnonzero(known):
            window = self.hazard[int(pair[k]), day[k] : day[k] + horizon_days]
            out[k] = 1.0 - np.prod(1.0 - window)
        return out


def generate(
    n_users: int = 1500,
    n_items: int = 400,
    n_days: int = 77,
    items_per_user: int = 20,
    seed: int = 42,
    end: pd.Timestamp | None = None,
) -> SyntheticLog:
    """`n_days` whole days ending at midnight `end` (default: today's), so the last event is of yesterday."""
    rng = np.random.default_rng(seed)
    start = (today() if end is None else end) - pd.Timedelta(days=n_days)
    n_cat = len(CATEGORY_CODES)

    # Users: activity level, taste over categories, sensitivity to discounts.
    activity = rng.lognormal(0.0, 0.5, n_users)
    visit_rate = rng.beta(2.0, 6.0, n_users)  # the share of days a user comes to the shop
    taste = rng.dirichlet(np.full(n_cat, 0.6), n_users)
    discount_sensitivity = rng.normal(1.0, 0.5, n_users).clip(0.0)

    # Items: category, base price, promotion depth, popularity, a weekly promotion calendar.
    category = rng.integers(0, n_cat, n_items)
    base_price = np.round(CATEGORY_PRICE[category] * rng.lognormal(0.0, 0.4, n_items), 2)
    promo_depth = rng.choice([10.0, 20.0, 30.0, 50.0], n_items)
    popularity = rng.normal(0.0, 0.5, n_items)
    on_promo = rng.random((n_items, n_days // 7 + 1)) < 0.3
    discount = np.where(np.repeat(on_promo, 7, axis=1)[:, :n_days], promo_depth[:, None], 0.0)

    # Pairs: each user follows a few items, chosen by taste and popularity.
    weights = taste[:, category] * np.exp(popularity)[None, :]
    weights /= weights.sum(axis=1, keepdims=True)
    pair_user = np.repeat(np.arange(n_users), items_per_user)
    pair_item = np.concatenate([rng.choice(n_items, items_per_user, replace=False, p=w) for w in weights])
    interest = (
        np.log(taste[pair_user, category[pair_item]] * n_cat)
        + popularity[pair_item]
        + rng.normal(0.0, 0.7, len(pair_user))
    )

    # Daily behaviour per pair.
    visits = rng.random((n_users, n_days)) < visit_rate[:, None]
    view_rate = 0.3 * activity[pair_user] * np.exp(0.8 * interest)
    views = rng.poisson(view_rate[:, None] * visits[pair_user])
    carts = rng.binomial(views, 1.0 / (1.0 + np.exp(2.0 - 0.8 * interest))[:, None])
    logit = -4.0 + 1.0 * interest[:, None] + 0.4 * np.log(activity[pair_user])[:, None]
    logit = logit + 0.05 * discount_sensitivity[pair_user, None] * discount[pair_item]
    hazard = visit_rate[pair_user, None] / (1.0 + np.exp(-logit))
    purchases = rng.random(hazard.shape) < hazard
    # A purchase goes through the funnel: it brings its own view and cart.
    views = views + purchases
    carts = carts + purchases

    events = _to_event_log(rng, start, views, carts, purchases, pair_user, pair_item, category, base_price, discount)
    return SyntheticLog(
        events=events,
        hazard=hazard,
        pair_user=np.array([f"user_{u:06d}" for u in pair_user]),
        pair_item=np.array([f"item_{i:05d}" for i in pair_item]),
        start=start,
    )


def _to_event_log(
    rng: np.random.Generator,
    start: pd.Timestamp,
    views: np.ndarray,
    carts: np.ndarray,
    purchases: np.ndarray,
    pair_user: np.ndarray,
    pair_item: np.ndarray,
    category: np.ndarray,
    base_price: np.ndarray,
    discount: np.ndarray,
) -> pd.DataFrame:
    """Expand per-day counts into timestamped events; one session per user and active day."""
    frames = []
    for event_type, counts in (("view", views), ("cart", carts), ("purchase", purchases.astype(int))):
        pair, day = np.nonzero(counts)
        n = counts[pair, day]
        frames.append(pd.DataFrame({"pair": np.repeat(pair, n), "day": np.repeat(day, n), "event_type": event_type}))
    ev = pd.concat(frames, ignore_index=True)
    user = pair_user[ev["pair"].to_numpy()]
    item = pair_item[ev["pair"].to_numpy()]
    day = ev["day"].to_numpy()

    # Sessions: a start in the day and a length; views and carts fall inside, purchases at the end.
    session_key = user.astype(np.int64) * 10_000 + day
    keys, session = np.unique(session_key, return_inverse=True)
    start_s = rng.uniform(8 * 3600, 22 * 3600, len(keys))
    length_s = rng.exponential(900.0, len(keys)) + 60.0
    frac = np.where(ev["event_type"].to_numpy() == "purchase", 1.0, rng.random(len(ev)))
    seconds = start_s[session] + frac * length_s[session]

    price = np.round(base_price[item] * (1.0 - discount[item, day] / 100.0), 2)
    events = pd.DataFrame(
        {
            "event_time": start + pd.to_timedelta(day, unit="D") + pd.to_timedelta(np.round(seconds), unit="s"),
            "event_type": ev["event_type"].to_numpy(),
            "product_id": np.array([f"item_{i:05d}" for i in range(len(base_price))])[item],
            "category_id": 2_000_000 + category[item],
            "category_code": np.array(CATEGORY_CODES)[category[item]],
            "brand": np.array([f"brand_{i % 37:02d}" for i in range(len(base_price))])[item],
            "price": price,
            "user_id": np.array([f"user_{u:06d}" for u in range(user.max() + 1)])[user],
            "user_session": np.array([f"s{k:012d}" for k in keys])[session],
        }
    )
    return events.sort_values(["event_time", "user_id", "product_id"], kind="stable").reset_index(drop=True)
