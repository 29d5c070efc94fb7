"""A 30-second version of bench/soak.py (1080p at 30 fps through the real node over DDS): invariants only, not
speed. Every frame the node received is accounted for (processed + dropped busy + skipped + paused), every
processed frame reached the subscriber, the node exits cleanly, and its memory stays flat after a warm-up."""
from __future__ import annotations

import importlib.util

from ros_helpers import REPO

GROWTH_BOUND_MIB = 64      # one leaked 1080p frame per processed frame would be ~6 MiB each, ~200 MiB here


def load_soak():
    spec = importlib.util.spec_from_file_location('vad_soak', REPO / 'bench' / 'soak.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_soak_accounts_for_every_frame_and_memory_stays_flat(tmp_path):
    soak = load_soak()
    with open(tmp_path / 'node.log', 'w') as log:
        r = soak.run_soak(30, 1920, 1080, 30.0, sample_s=2.0, warmup_s=12.0, log=log)
    summary = soak.markdown(r)
    assert r['node_exit_code'] == 0, summary
    assert r['frames_processed'] > 0 and r['frames_received'] > r['frames_processed'], summary
    assert r['frames_received'] <= r['published'], summary
    assert r['every_frame_accounted'], summary
    assert r['frames_received'] == (r['frames_processed'] + r['frames_dropped_busy'] + r['frames_skipped_bad_input']
                                    + r['frames_ignored_paused'])
    assert r['every_result_received'] and r['results_received'] == r['frames_processed'], summary
    assert r['frames_skipped_bad_input'] == 0, summary
    assert r['anomalous_results'] > 0, summary           # the rule path (anomalies, events) was exercised
    assert r['rss_mb']['growth_after_warmup'] is not None, summary
    assert r['rss_mb']['growth_after_warmup'] < GROWTH_BOUND_MIB, summary
