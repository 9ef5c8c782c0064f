"""The review queue as a write: the next output for a reviewer, leased to them so that two reviewers working the
same run see different outputs. Which outputs are candidates is a read (`selectors.queue_candidates`)."""

import time

from django.conf import settings
from django.core.cache import cache

from apps.runs.models import Output, Run

from . import selectors


def lease_seconds() -> int:
    """Short (TASKLLM_REVIEW_LEASE_SECONDS): the open review screen renews the lease; a closed one lets it go."""
    return settings.TASKLLM_REVIEW_LEASE_SECONDS


def lease_renew_seconds() -> int:
    """How often the open screen renews: three chances before the lease runs out."""
    return max(1, lease_seconds() // 3)


def queue_take(*, run: Run, reviewer, after_id: int = 0, lease: bool = True, **filters) -> Output | None:
    """The next output for this reviewer after `after_id` (wrapping round), leased to them when `lease`.

    With one review per output, an output given to one reviewer is held for them for `lease_seconds()` (a lease in
    the cache, renewed while their screen is open), so two reviewers working the same run see different outputs.
    Without `lease` (a lead or admin who looks) the first output nobody holds is shown and nothing is taken.
    With more reviews per output everyone gets the first candidate and nothing is leased.
    """
    for candidate_ids in selectors.queue_candidates(run, reviewer, after_id=after_id, **filters):
        chosen = _first_free(run, reviewer, candidate_ids, lease=lease)
        if chosen:
            return Output.objects.select_related("record").get(id=chosen)
    return None


def _first_free(run: Run, reviewer, candidate_ids: list[int], *, lease: bool) -> int | None:
    if run.reviews_per_output > 1:
        return candidate_ids[0] if candidate_ids else None
    holders = cache.get_many([_lease_key(i) for i in candidate_ids])
    for output_id in candidate_ids:
        holder = holders.get(_lease_key(output_id))
        if holder is not None and _holder_id(holder) == reviewer.id:
            return output_id
        if holder is None and (not lease or cache.add(_lease_key(output_id), _lease_value(reviewer),
                                                      lease_seconds())):
            return output_id
    return None


def review_lease_renew(*, output: Output, reviewer) -> bool:
    """Keep holding the output the reviewer's screen shows; False when someone else holds it."""
    key = _lease_key(output.id)
    holder = cache.get(key)
    if holder is not None and _holder_id(holder) != reviewer.id:
        return False
    cache.set(key, _lease_value(reviewer), lease_seconds())
    return True


def _lease_value(reviewer) -> dict:
    return {"user": reviewer.id, "name": reviewer.get_username(), "until": time.time() + lease_seconds()}


def _holder_id(holder) -> int | None:
    return holder.get("user") if isinstance(holder, dict) else holder


def _lease_key(output_id: int) -> str:
    return selectors.lease_key(output_id)
