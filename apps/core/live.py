"""Live job pages: the status partial polls while a job is active; when the job ends the page shows its final tables.

A page that polls its job's status (`hx-get` on the status block, every second) gets the status partial back while
the job runs. The first poll after the job ended gets the whole page instead, with headers that make htmx swap the
page's `<main>` for the new one and stop polling (286), so the final tables appear without a reload.
"""

from django.http import HttpResponse
from django_htmx.http import HttpResponseStopPolling


def finished_page_swap(response: HttpResponse) -> HttpResponse:
    """Turn a full-page response into the last answer to a status poll: swap `<main>` whole, stop polling."""
    response.status_code = HttpResponseStopPolling.status_code
    response["HX-Retarget"] = "main"
    response["HX-Reswap"] = "outerHTML"
    response["HX-Reselect"] = "main"
    return response
