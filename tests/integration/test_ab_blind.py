"""A reviewer trying to cheat the blind A/B vote through the clips' files, against the real smoke server: before the
vote, nothing the page can fetch about the two clips (the bytes, their hash, Last-Modified, ETag, size) tells which
NFE is on which side, and a render revealed by one vote is not recognised by its hash in a later trial."""

from __future__ import annotations

import hashlib
from email.utils import formatdate

import httpx
import pytest
from gradio_client import Client

from ishowtts_studio.blind_copy import BLIND_MTIME

EN = "Nature (English)"
ON_BOTH_DATABASES = False


@pytest.fixture(scope="module")
def raw_client(studio_server):
    """A client that does not download: answers carry the URLs the page would get."""
    return Client(studio_server.url, verbose=False, analytics_enabled=False, download_files=False)


def _fetch(file_data: dict) -> httpx.Response:
    r = httpx.get(file_data["url"], timeout=10)
    assert r.status_code == 200
    return r


def test_nothing_fetchable_about_the_clips_tells_the_sides_apart(raw_client):
    raw_client.predict("Blind check, one two.", EN, [4, 8], 6, 11, api_name="/nfe_scores")
    reviewer = "blind-cheater"
    hashes_seen: dict[str, int] = {}  # hash of a clip revealed by a vote -> its NFE
    for _ in range(3):
        trial, a, b = raw_client.predict(reviewer, api_name="/ab_next_trial")
        got = [_fetch(a), _fetch(b)]
        # both sides look alike from outside: one date, one size
        for r in got:
            assert r.headers.get("last-modified") == got[0].headers.get("last-modified")
            assert r.headers.get("content-length") == got[0].headers.get("content-length")
        assert got[0].headers.get("last-modified") in (None, formatdate(BLIND_MTIME, usegmt=True))  # not the render's
        digests = [hashlib.sha256(r.content).hexdigest() for r in got]
        assert not set(digests) & set(hashes_seen), "a clip's hash named a render revealed in an earlier trial"
        # the same trial handed out again: new bytes for the same clips
        _, a2, b2 = raw_client.predict(reviewer, api_name="/ab_next_trial")
        assert hashlib.sha256(_fetch(a2).content).hexdigest() != digests[0]
        reveal = raw_client.predict(trial, reviewer, "tie", api_name="/ab_vote")
        hashes_seen[digests[0]], hashes_seen[digests[1]] = reveal["a_nfe"], reveal["b_nfe"]
    assert len(hashes_seen) == 6
