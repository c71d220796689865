"""Schedules across hosts: two workers on two hosts of one PostgreSQL queue fire a
schedule of every second for 30 s, each slot once, none missed."""

from __future__ import annotations

from tests.pg.conftest import Hosts
from tests.support.schedules import two_workers_fire_every_second


def test_two_hosts_fire_every_second_once_for_30_seconds(hosts: Hosts) -> None:
    two_workers_fire_every_second(hosts.a, hosts.b)
