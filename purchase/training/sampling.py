"""The training population beyond the viewed pairs: what a serving model is asked about and the log
still labels. At each as-of time, every user with events in the 30-day window gets items of the catalog
they did not view, and every user of the log without such events gets items as a new visitor would.

Items are drawn uniformly from the catalog (the items with a usable price at that time), without
replacement, by a generator seeded with (seed, as-of time, user): a user's pairs depend on that user's
events alone, so the Spark path, which derives each bucket of users apart, draws the same pairs.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Sampling:
    seed: int = 42
    unviewed_per_user: int = 10  # items a user with history did not view, per as-of time
    new_user_items: int = 40  # items for each user without events in the window, per as-of time

    def pairs(
        self, users: np.ndarray, known: np.ndarray, viewed: pd.DataFrame, items: np.ndarray, t: pd.Timestamp
    ) -> pd.DataFrame:
        """(user_id, product_id) pairs for each of `users`: `known` ones (events in the window) get items
        outside their `viewed` pairs, the others `new_user_items` of the catalog `items`."""
        seen = viewed.groupby("user_id")["product_id"].agg(set).to_dict()
        known_users = set(known)
        stamp = int(t.timestamp())
        chosen_users: list[str] = []
        chosen_items: list[np.ndarray] = []
        for user in users:
            wanted = self.unviewed_per_user if user in known_users else self.new_user_items
            if wanted <= 0 or len(items) == 0:
                continue
            exclude = seen.get(user, set())
            rng = np.random.default_rng([self.seed, stamp, zlib.crc32(str(user).encode())])
            drawn = items[rng.choice(len(items), size=min(len(items), wanted + len(exclude)), replace=False)]
            picked = np.array([item for item in drawn if item not in exclude][:wanted], dtype=object)
            chosen_users += [user] * len(picked)
            chosen_items.append(picked)
        products = np.concatenate(chosen_items) if chosen_items else np.array([], dtype=object)
        return pd.DataFrame({"user_id": np.array(chosen_users, dtype=object), "product_id": products})


def group_weights(sizes: pd.DataFrame, shares: tuple[float, ...]) -> pd.Series:
    """The weight of a row of each (as_of, segment) group, from the groups' row counts (`sizes`: columns
    as_of, segment, size): each segment gets its share of every as-of time's rows, and rows within a
    segment weigh the same, so each segment keeps its own calibration. Shares of segments absent at a time
    are spread over the others. Indexed by (as_of, segment)."""
    share = np.asarray(shares, dtype=np.float64)[sizes["segment"].to_numpy()]
    by_time = sizes.assign(share=share).groupby("as_of")[["size", "share"]].transform("sum")
    weight = share / by_time["share"].to_numpy() * by_time["size"].to_numpy() / sizes["size"].to_numpy()
    return pd.Series(weight, index=pd.MultiIndex.from_frame(sizes[["as_of", "segment"]]))


def segment_weights(codes: np.ndarray, as_of: np.ndarray, shares: tuple[float, ...]) -> np.ndarray:
    """`group_weights` for each row of segment `codes` (indexes of `segments.SEGMENTS`) at `as_of`."""
    frame = pd.DataFrame({"as_of": as_of, "segment": codes})
    sizes = frame.groupby(["as_of", "segment"]).size().rename("size").reset_index()
    return group_weights(sizes, shares).reindex(pd.MultiIndex.from_frame(frame)).to_numpy()
