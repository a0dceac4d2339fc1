"""R17 on a synced bench: how many orders it holds claimed ahead follows the packer's pace."""

import math

from stationd.core.claims_ahead import AHEAD_COVERS_S, MAX_AHEAD, PACE_WINDOW_S, ahead_wanted


def test_r17_a_bench_set_to_claim_nothing_ahead_claims_nothing_whatever_its_pace():
    assert ahead_wanted(0, [100.0 + n / 10 for n in range(50)], 105.0) == 0


def test_r17_a_slow_packer_holds_what_the_setting_says():
    assert ahead_wanted(2, [], 100.0) == 2
    assert ahead_wanted(2, [50.0, 90.0], 100.0) == 2  # two opens in 20 s: 0.1 a second
    assert ahead_wanted(2, [100.0 - PACE_WINDOW_S - 5] * 50, 100.0) == 2  # long ago


def test_r17_a_quick_packer_holds_what_its_pace_opens_in_the_cover_time_at_most_max_ahead():
    opens = [100.0 - 2.4 + n * 0.3 for n in range(9)]  # 8 opens in 2.4 s
    assert ahead_wanted(1, opens, 100.0) == math.ceil(8 / 2.4 * AHEAD_COVERS_S)
    flood = [100.0 - n / 100 for n in range(500)]
    assert ahead_wanted(1, flood, 100.0) == MAX_AHEAD
