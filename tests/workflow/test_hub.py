"""Downloads from the Hub: the real ``huggingface_hub`` client against the loopback Hub server.

No mock of the client: every test goes over HTTP to ``tests/helpers/hubserver.py``, and the server's
request log is the evidence (a cached file means no second GET; a file that is not there means
one metadata request and no retry). The rule script is run by the real ``snakemake`` CLI.
"""

from __future__ import annotations

import hashlib
import logging
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ebteff.hub import ChecksumError, HubDownloadError, HubNotFoundError, download_file

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "download_photometry.py"

REPO = "ebteff-test/gaia-eb-teff-datasets"
FILE = "photometry/eb_unified_photometry.parquet"
# Random bytes: no accidental structure; many reads on the wire, yet fast.
DATA = random.Random(20251211).randbytes(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
TOKEN = "hf_loopbackTestToken0123456789"


@pytest.fixture(autouse=True)
def no_telemetry(monkeypatch):
    """Keep the in-process client from fetching {endpoint}/api/agent-harnesses.

    huggingface_hub 2.x does that (once per process, 3 s timeout) to build its user agent unless
    telemetry is off, and it reads HF_HUB_DISABLE_TELEMETRY only at import; whether the fetch
    happens would otherwise depend on test order.
    """
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)


@pytest.fixture
def hub(hub_server, monkeypatch):
    """The loopback Hub holding the photometry file, with HF_ENDPOINT pointing at it."""
    hub_server.add_file("dataset", REPO, FILE, DATA)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    return hub_server


@pytest.fixture
def fetch(tmp_path):
    """download_file with a private cache, a dest under resources/ and a fast backoff."""

    def _fetch(dest="photometry.parquet", repo_id=REPO, filename=FILE, **kwargs) -> Path:
        kwargs.setdefault("cache_dir", tmp_path / "hf-cache")
        kwargs.setdefault("backoff", 0.01)
        return download_file(repo_id, filename, tmp_path / "resources" / dest, **kwargs)

    return _fetch


def file_transfers(server) -> list:
    """GETs that carry file content: the CDN blob, or a git file straight from /resolve/."""
    return [
        r
        for r in server.requests
        if r.method == "GET" and ("/lfs/" in r.path or "/resolve/" in r.path)
    ]


def metadata_requests(server) -> list:
    return server.requests_matching("HEAD", "/resolve/")


def leftovers(directory: Path) -> list[Path]:
    """Temporary files atomic_output would leave behind if it failed to clean up."""
    return sorted(directory.glob(".*.part")) if directory.exists() else []


def test_download_delivers_the_registered_bytes(hub, fetch, tmp_path):
    dest = fetch(sha256=None)

    assert dest == tmp_path / "resources" / "photometry.parquet"
    assert dest.read_bytes() == DATA
    assert leftovers(dest.parent) == []
    # It went through the Hub's protocol: metadata from the Hub, content from the CDN origin.
    (head,) = metadata_requests(hub)
    assert head.path == f"/datasets/{REPO}/resolve/main/{FILE}"
    (get,) = file_transfers(hub)
    assert get.origin == "cdn" and get.path == f"/lfs/{SHA}"


def test_second_download_is_served_from_the_cache(hub, fetch, caplog):
    caplog.set_level(logging.INFO, logger="ebteff.hub")
    first = fetch("first.parquet")
    hub.reset_requests()
    caplog.clear()

    second = fetch("second.parquet")

    assert second.read_bytes() == first.read_bytes() == DATA
    assert len(metadata_requests(hub)) == 1  # the client still asks which commit main is
    assert file_transfers(hub) == []  # ... but does not fetch the content again
    assert "from the Hub cache" in caplog.text


def test_a_correct_pin_passes_and_is_logged(hub, fetch, caplog):
    caplog.set_level(logging.INFO, logger="ebteff.hub")
    dest = fetch(sha256=SHA.upper())  # case does not matter

    assert dest.read_bytes() == DATA
    assert SHA in caplog.text and "matches the pin" in caplog.text


def test_a_wrong_pin_raises_leaves_nothing_and_evicts_the_cached_copy(hub, fetch, tmp_path):
    wrong = hashlib.sha256(b"some other table").hexdigest()

    with pytest.raises(ChecksumError) as excinfo:
        fetch(sha256=wrong, retries=3)

    message = str(excinfo.value)
    assert FILE in message and REPO in message
    assert wrong in message and SHA in message
    assert "pin" in message and "revision" in message
    resources = tmp_path / "resources"
    assert not (resources / "photometry.parquet").exists()
    assert leftovers(resources) == []
    assert len(file_transfers(hub)) == 1  # a checksum mismatch is not retried

    # The bad copy left the cache: the next attempt transfers the file again.
    hub.reset_requests()
    assert fetch(sha256=SHA).read_bytes() == DATA
    assert len(file_transfers(hub)) == 1


def test_an_invalid_pin_is_rejected_before_any_request(hub, fetch):
    with pytest.raises(ValueError, match="64 hexadecimal"):
        fetch(sha256="not-a-sha")
    assert metadata_requests(hub) == []


@pytest.mark.parametrize(
    ("repo_id", "filename", "revision", "what"),
    [
        (REPO, "photometry/missing.parquet", "main", "does not exist"),
        ("ebteff-test/no-such-dataset", FILE, "main", "was not found"),
        (REPO, FILE, "v999", "revision 'v999' does not exist"),
    ],
    ids=["unknown-file", "unknown-repo", "unknown-revision"],
)
def test_a_missing_file_repo_or_revision_fails_at_once(
    hub, fetch, tmp_path, repo_id, filename, revision, what
):
    with pytest.raises(HubNotFoundError) as excinfo:
        fetch(repo_id=repo_id, filename=filename, revision=revision, retries=3, backoff=30.0)

    message = str(excinfo.value)
    assert what in message
    assert repr(repo_id) in message and repr(filename) in message and repr(revision) in message
    assert len(metadata_requests(hub)) == 1  # no retry (a retry would also sleep 30 s)
    assert file_transfers(hub) == []
    assert not (tmp_path / "resources" / "photometry.parquet").exists()


def test_refused_access_fails_at_once_and_names_the_token(hub, fetch):
    hub.fail_next(10, 403, method="HEAD", headers={"X-Error-Message": "Forbidden"})

    with pytest.raises(HubDownloadError, match="HTTP 403") as excinfo:
        fetch(retries=3, backoff=30.0)

    assert "HF_TOKEN" in str(excinfo.value)
    assert len(metadata_requests(hub)) == 1


def test_transient_server_errors_are_retried_with_backoff(hub, fetch, caplog):
    caplog.set_level(logging.WARNING, logger="ebteff.hub")
    hub.fail_next(2, 500, method="GET", origin="cdn")

    dest = fetch(retries=2)

    assert dest.read_bytes() == DATA
    assert [r.status for r in file_transfers(hub)] == [500, 500, 200]
    assert caplog.text.count("retrying in") == 2


def test_retries_are_bounded(hub, fetch, tmp_path):
    hub.fail_next(10, 503, method="GET", origin="cdn")

    with pytest.raises(HubDownloadError, match="after 2 attempt"):
        fetch(retries=1)

    assert len(file_transfers(hub)) == 2
    assert not (tmp_path / "resources" / "photometry.parquet").exists()
    assert leftovers(tmp_path / "resources") == []


def test_a_hub_outage_on_the_metadata_request_is_survived(hub, fetch):
    # huggingface_hub 2.x re-sends a metadata HEAD that got a 5xx itself, before giving up.
    hub.fail_next(1, 503, method="HEAD", path_contains="/resolve/")

    assert fetch(retries=0).read_bytes() == DATA
    assert [r.status for r in metadata_requests(hub)] == [503, 302]


def test_a_corrupt_cached_copy_is_evicted_and_fetched_again(hub, fetch, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="ebteff.hub")
    fetch("first.parquet")
    blob = tmp_path / "hf-cache" / f"datasets--{REPO.replace('/', '--')}" / "blobs" / SHA
    blob.write_bytes(DATA[:-10] + b"corrupted!")  # e.g. a disk error, or a hand-edited cache
    hub.reset_requests()

    dest = fetch("second.parquet")

    assert dest.read_bytes() == DATA
    assert len(file_transfers(hub)) == 1
    assert "corrupt" in caplog.text


def test_a_revision_pinned_to_a_commit_needs_no_request_once_cached(hub, fetch, caplog):
    caplog.set_level(logging.INFO, logger="ebteff.hub")
    commit = hub.commit_hash("dataset", REPO)
    hub.add_file("dataset", REPO, FILE, b"a newer table on main")  # main moves on

    assert fetch("first.parquet", revision=commit).read_bytes() == DATA
    hub.reset_requests()
    caplog.clear()
    assert fetch("second.parquet", revision=commit).read_bytes() == DATA

    assert hub.requests_matching(path_contains="/resolve/") == []
    assert file_transfers(hub) == []
    assert "from the Hub cache" in caplog.text


def test_a_regular_git_file_of_a_model_repo(hub_server, monkeypatch, fetch):
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    hub_server.add_file("model", "ebteff-test/model", "config.json", b'{"n": 1}', lfs=False)

    dest = fetch(
        "config.json", repo_id="ebteff-test/model", filename="config.json", repo_type="model"
    )

    assert dest.read_bytes() == b'{"n": 1}'
    (get,) = file_transfers(hub_server)
    assert get.origin == "hub" and get.path == "/ebteff-test/model/resolve/main/config.json"


def test_the_token_goes_to_the_hub_only_and_is_never_logged(hub, fetch, caplog):
    caplog.set_level(logging.DEBUG)

    fetch(token=TOKEN)

    (head,) = metadata_requests(hub)
    assert head.headers.get("authorization") == f"Bearer {TOKEN}"
    (get,) = file_transfers(hub)
    assert get.origin == "cdn" and "authorization" not in get.headers
    assert TOKEN not in caplog.text


def test_hf_endpoint_is_read_at_call_time_not_at_import(hub_server, monkeypatch, fetch):
    import huggingface_hub.constants as constants  # imported before HF_ENDPOINT points here

    hub_server.add_file("dataset", REPO, FILE, DATA)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    assert constants.ENDPOINT != hub_server.url

    assert fetch().read_bytes() == DATA
    assert len(metadata_requests(hub_server)) == 1


# -- the rule script, run by Snakemake ---------------------------------------------------------

SNAKEFILE = """\
rule download_photometry:
    output:
        photometry="resources/photometry.parquet",
    log:
        "results/logs/download_photometry.log",
    params:
        repo_id={repo_id!r},
        filename={filename!r},
        revision="main",
        sha256={sha256!r},
        retries=1,
    script:
        {script!r}
"""


def run_rule(server, tmp_path: Path, sha256: str | None) -> subprocess.CompletedProcess:
    """Run the rule script through the real snakemake CLI, in a fresh process and directory."""
    workdir = tmp_path / "workflow"
    workdir.mkdir()
    snakefile = workdir / "Snakefile"
    snakefile.write_text(
        SNAKEFILE.format(repo_id=REPO, filename=FILE, sha256=sha256, script=str(SCRIPT))
    )
    env = server.client_env(
        tmp_path / "hf-home", HF_TOKEN=TOKEN, XDG_CACHE_HOME=str(tmp_path / "xdg")
    )
    env.pop("PYTHONPATH", None)  # Snakemake itself must put scripts/ on the script's sys.path
    env.pop("HF_HUB_DISABLE_TELEMETRY")  # the script must switch it off itself
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--cores", "1"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_rule_script_downloads_under_snakemake(hub_server, tmp_path):
    hub_server.add_file("dataset", REPO, FILE, DATA)

    run = run_rule(hub_server, tmp_path, sha256=SHA)

    assert run.returncode == 0, run.stderr
    workdir = tmp_path / "workflow"
    assert (workdir / "resources" / "photometry.parquet").read_bytes() == DATA
    log = (workdir / "results" / "logs" / "download_photometry.log").read_text()
    assert SHA in log and "matches the pin" in log
    # The script took the token from HF_TOKEN, sent it, and kept it out of every log.
    (head,) = metadata_requests(hub_server)
    assert head.headers.get("authorization") == f"Bearer {TOKEN}"
    assert TOKEN not in log and TOKEN not in run.stderr and TOKEN not in run.stdout
    assert hub_server.requests_matching(path_contains="/api/") == []  # no telemetry call


def test_the_rule_fails_with_the_checksum_message_in_its_log(hub_server, tmp_path):
    hub_server.add_file("dataset", REPO, FILE, DATA)
    wrong = "0" * 64

    run = run_rule(hub_server, tmp_path, sha256=wrong)

    assert run.returncode != 0
    workdir = tmp_path / "workflow"
    assert not (workdir / "resources" / "photometry.parquet").exists()
    log = (workdir / "results" / "logs" / "download_photometry.log").read_text()
    assert "ChecksumError" in log and wrong in log and SHA in log


def test_download_first_takes_the_first_file_the_repository_holds(hub, tmp_path):
    from ebteff.hub import download_first

    dest = tmp_path / "resources" / "correction"
    kwargs = {"cache_dir": tmp_path / "hf-cache", "backoff": 0.01}
    used = download_first(REPO, ["correction/absent.json", FILE], dest, **kwargs)
    assert used == FILE and dest.read_bytes() == DATA
    with pytest.raises(HubNotFoundError, match="none of correction/a.json, correction/b.pkl"):
        download_first(REPO, ["correction/a.json", "correction/b.pkl"], tmp_path / "x", **kwargs)
    # a missing repository is not a missing file: it stops at the first candidate
    with pytest.raises(HubNotFoundError, match="was not found"):
        download_first("ebteff-test/absent", ["a.json", FILE], tmp_path / "y", **kwargs)
    assert len(hub.requests_matching(path_contains="ebteff-test/absent")) >= 1
    assert not any("absent" in r.path and FILE in r.path for r in hub.requests)
    # a wrong pin is not skipped either
    with pytest.raises(ChecksumError):
        download_first(REPO, [FILE], tmp_path / "z", sha256="0" * 64, **kwargs)
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()
