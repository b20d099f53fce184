"""The models a worker serves: loaded versions, batching and caches, A/B routing, changes agreed with the fleet."""
