"""The review queue as a write: the next output for a reviewer, leased to them so that two reviewers working the
same run see different outputs. Which outputs are candidates is a read (`selectors.queue_candidates`)."""

from django.core.cache import cache

from apps.runs.models import Output, Run

from . import selectors

LEASE_SECONDS = 600


def queue_take(*, run: Run, reviewer, after_id: int = 0, **filters) -> Output | None:
    """The next output for this reviewer after `after_id` (wrapping round), leased to them.

    With one review per output, an output given to one reviewer is held for them for LEASE_SECONDS
    (a lease in the cache), so two reviewers working the same run see different outputs. With more
    reviews per output everyone gets the first candidate and nothing is leased.
    """
    for candidate_ids in selectors.queue_candidates(run, reviewer, after_id=after_id, **filters):
        chosen = _lease_first_free(run, reviewer, candidate_ids)
        if chosen:
            return Output.objects.select_related("record").get(id=chosen)
    return None


def _lease_first_free(run: Run, reviewer, candidate_ids: list[int]) -> int | None:
    if run.reviews_per_output > 1:
        return candidate_ids[0] if candidate_ids else None
    holders = cache.get_many([_lease_key(i) for i in candidate_ids])
    for output_id in candidate_ids:
        key = _lease_key(output_id)
        holder = holders.get(key)
        if holder == reviewer.id or (holder is None and cache.add(key, reviewer.id, LEASE_SECONDS)):
            return output_id
    return None


def _lease_key(output_id: int) -> str:
    return f"review-lease:{output_id}"
