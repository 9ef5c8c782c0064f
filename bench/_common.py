"""Set-up shared by the benchmarks: a PostgreSQL database of their own and Django."""

import os
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/taskllm_bench"


def ensure_database(url: str, *, fresh: bool = False) -> None:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(*, database: str | None = None, fresh: bool = False) -> Path:
    """Point Django at the benchmark database and a scratch media folder, migrate, and return the scratch folder.

    `database` names a database of its own (made anew with `fresh`) on the server of DATABASE_URL.
    """
    sys.path.insert(0, str(ROOT))
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if database:
        url = url.rsplit("/", 1)[0] + "/" + database
    os.environ["DATABASE_URL"] = url
    ensure_database(url, fresh=fresh)
    work = Path(tempfile.mkdtemp(prefix="taskllm-bench-"))
    os.environ["DJANGO_MEDIA_ROOT"] = str(work / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskllm_site.settings")
    # Production settings (DEBUG off, so no query log grows) want a real secret key; a throwaway one will do.
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return work


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
