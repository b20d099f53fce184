"""The model page (/models): the versions, their reports, comparisons and promotion, as HTML."""
