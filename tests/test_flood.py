"""bot/flood.py: a few photos per sender per window, an album counted once, quiet senders forgotten."""

from __future__ import annotations

from bot.flood import FloodGuard


def test_an_album_counts_once_and_the_wait_is_until_the_oldest_photo_leaves_the_window() -> None:
    now = [0.0]
    guard = FloodGuard(2, 60.0, clock=lambda: now[0])
    assert all(guard.allow("ann", album="a1") for _ in range(5)), "the photos of one album are one post"
    now[0] = 10.0
    assert guard.allow("ann") and not guard.allow("ann")
    assert guard.wait("ann") == 50.0 and guard.wait("bob") == 0.0
    now[0] = 60.5
    assert guard.allow("ann"), "the album's post left the window"


def test_the_rate_limits_forget_clients_gone_quiet() -> None:
    """Every address that ever asked was kept forever; now only those of about the last window are."""

    now = [0.0]
    guard = FloodGuard(2, 60.0, clock=lambda: now[0])
    for client in range(1000):
        assert guard.allow(f"client-{client}")
    assert guard.senders == 1000
    now[0] = 61.0
    assert guard.allow("newcomer") and guard.senders == 1
    assert guard.allow("newcomer") and not guard.allow("newcomer"), "the limit itself still holds"
