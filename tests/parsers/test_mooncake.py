from __future__ import annotations

import pytest

from runner.base.errors import ParseError

from .helpers import FIXTURES, values

P = "mooncake-bench"


def test_real_tcp_initiator(parse_fixture):
    result = parse_fixture(P, "mooncake/tcp-loopback-initiator.log")
    assert values(result) == {
        "throughput_gbps": 0.59,
        "duration_s": 3.0,
        "batch_count": 1677,
        "rpc_address": "127.0.0.1:16427",
        "protocol": "tcp",
    }
    assert result.metrics["throughput_gbps"].unit == "GB/s"
    assert result.metrics["throughput_gbps"].better == "higher"
    assert result.info == {"role": "initiator", "report_unit": "GB"}


def test_real_tcp_target(parse_fixture):
    result = parse_fixture(P, "mooncake/tcp-loopback-target.log", role="target")
    assert values(result) == {"rpc_address": "127.0.0.1:16446", "protocol": "tcp"}


def test_target_log_read_as_initiator_says_what_to_do(parse_fixture):
    with pytest.raises(ParseError, match="no 'Test completed' line: the initiator did not finish") as caught:
        parse_fixture(P, "mooncake/tcp-loopback-target.log")
    assert "Local segment descriptor not found" in caught.value.hint


def test_target_without_rpc_address(parse_text):
    with pytest.raises(ParseError, match="the target log has no 'Transfer Engine RPC using <method>, listening on"):
        parse_text(P, "I1127 05:15:03.636758  4573 transfer_engine_bench.cpp:335] DRAM is used, numa node num: 1\n", role="target")


def test_old_build_without_unit_is_gb(parse_fixture):
    result = parse_fixture(P, "mooncake/old_build_no_unit.log")
    assert values(result) == {"throughput_gbps": 0.26, "duration_s": 10.01, "batch_count": 4895}
    assert result.info["report_unit"] == "GB (no unit printed)"


def test_current_format(parse_fixture):
    assert values(parse_fixture(P, "mooncake/current_format_gbps.log")) == {"throughput_gbps": 12.5, "duration_s": 5.25, "batch_count": 42}


def test_cut_result_line_is_an_error(parse_fixture):
    with pytest.raises(ParseError, match=r"line 4: the 'Test completed' line could not be read: .*throughpu…"):
        parse_fixture(P, "mooncake/issue_1617_rdma_cut_line.log")


def test_failed_worker(parse_fixture):
    with pytest.raises(ParseError, match=r"a worker reported a failed transfer: 'I1127 05:15:09.910402  4612 transfer_engine_bench.cpp:421\] FAILED'"):
        parse_fixture(P, "mooncake/failed-worker.log")


def test_failed_worker_fails_a_target_too(parse_fixture):
    with pytest.raises(ParseError, match="a worker reported a failed transfer"):
        parse_fixture(P, "mooncake/failed-worker.log", role="target")


@pytest.mark.parametrize(
    ("printed", "gbps"),
    [
        ("1.00 GiB/s", 1.073741824),
        ("8.00 Gb/s", 1.0),
        ("1000.00 MB/s", 1.0),
        ("1024.00 MiB/s", 1.073741824),
        ("8000.00 Mb/s", 1.0),
        ("1000000.00 KB/s", 1.0),
        ("1048576.00 KiB/s", 1.073741824),
        ("8000000.00 Kb/s", 1.0),
    ],
)
def test_report_units_become_gb_per_s(parse_text, printed, gbps):
    line = f"I0813 21:00:00.000000 1 transfer_engine_bench.cpp:564] Test completed: duration 5.00, batch count 42, throughput {printed}\n"
    assert parse_text(P, line).value("throughput_gbps") == pytest.approx(gbps)


def test_unknown_unit(parse_text):
    line = "Test completed: duration 5.00, batch count 42, throughput 3.00 TB/s\n"
    with pytest.raises(ParseError, match="unknown throughput unit 'TB'/s"):
        parse_text(P, line)


def test_efa_protocol(parse_text):
    text = (
        "I0306 02:45:59.641625 157201 efa_context.cpp:88] EFA device (libfabric): rdmap79s0, domain: rdmap79s0-rdm, fabric: efa, provider: efa"
        " (shared endpoint, max_wr=4096, provider tx queue=4096, max_cqe=12288)\n"
        + (FIXTURES / "mooncake" / "current_format_gbps.log").read_text()
    )
    assert parse_text(P, text).value("protocol") == "efa"


def test_empty(parse_text):
    with pytest.raises(ParseError, match="the output is empty"):
        parse_text(P, "\n\n")


def test_bad_role(parse_fixture):
    with pytest.raises(ParseError, match="option 'role' must be one of initiator, target, got 'server'"):
        parse_fixture(P, "mooncake/tcp-loopback-target.log", role="server")


@pytest.mark.parametrize("case,address", [
    ("tcp-p2p", "127.0.0.1:15778"),                          # P2PHANDSHAKE: a random port
    ("tcp-http-metadata", "127.0.0.1:12345"),                # HTTP metadata + MC_LEGACY_RPC_PORT_BINDING: the declared port
    ("http-metadata-random-port", "192.0.2.2:15850"),        # HTTP metadata without it: "new RPC mapping", random
])
def test_target_address_under_every_rpc_binding_of_the_pinned_mooncake(case, address):
    from runner.parse.logs import parse_file
    from tests.truth.corpus import ROOT

    result = parse_file(P, ROOT / "mooncake" / "v0.3.10.post2" / case / "target.log", {"role": "target"})
    assert result.metrics["rpc_address"].value == address
