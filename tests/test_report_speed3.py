"""The third pass of issue 17: the funnel's stage entries, the audit's endings, censoring
weights and snapshot AUCs, and the report's answered touches from their fast paths equal the
plain computations they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nurturelab.competing import lead_endings
from nurturelab.funnel import DEFAULT_FUNNEL, entered_stage, outcomes
from nurturelab.report.aggregate import answered_within
from nurturelab.report.data import prepare
from nurturelab.scoring.audit import scored_snapshots, snapshot_times
from nurturelab.scoring.audit.bootstrap import audit_figures
from nurturelab.scoring.audit.snapshots import ENDED_BY
from nurturelab.scoring.audit.statistics import IpcwDesign, ipcw_weights, weighted_auc
from nurturelab.scoring.points import DEFAULT_RULES

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def export():
    """The synthetic export plus the cases the fast paths must get right: an opt-out at the
    very time of a conversion (the conversion wins the tie), an opt-out before a loss, and
    touches repeated at the same time on the same lead and channel, one without a channel."""
    from nurturelab.synthetic import make_export

    leads, events = make_export(n_leads=300, seed=1)
    kind, name = events["type"].astype(object), events["name"].astype(object)
    won = events.loc[kind.eq("stage") & name.eq(DEFAULT_FUNNEL.conversion_stage)]
    lost = events.loc[kind.eq("stage") & name.eq(DEFAULT_FUNNEL.lost)]
    touch = events.loc[kind.eq("touch")]
    tie = won.head(6)[["lead_id", "ts"]].assign(type="response", name="opt_out")
    early = lost.head(6)[["lead_id", "ts"]].assign(type="response", name="opt_out",
                                                   ts=lost.head(6)["ts"] - 2 * DAY)
    again = touch.sample(40, random_state=4)
    blank = touch.sample(20, random_state=5)
    extra = pd.concat([tie, early, again, blank], ignore_index=True)
    extra.loc[len(extra) - len(blank):, "channel"] = None
    for col in ("type", "channel"):
        extra[col] = pd.Categorical(extra[col], dtype=events[col].dtype)
    ev = pd.concat([events, extra], ignore_index=True).sort_values("ts", kind="stable")
    return leads, ev.reset_index(drop=True)


def test_entered_stage_is_the_funnels_rule(export):
    _, events = export
    stage_of = {n: i for i, n in enumerate(DEFAULT_FUNNEL.names)}
    exit_of = {n: i + 1 for i, s in enumerate(DEFAULT_FUNNEL.stages[:-1]) for n in s.exit_on}
    plain = [stage_of.get(n, -1) if k == "stage" else exit_of.get(n, -1)
             for k, n in zip(events["type"].astype(object), events["name"].astype(object),
                             strict=True)]
    got = entered_stage(events)
    np.testing.assert_array_equal(got, plain)
    assert set(got) >= {-1, 1, len(DEFAULT_FUNNEL.names) - 1}  # no entry, exits, stage events


@pytest.mark.parametrize("until", [None, "2026-10-12 06:00"])
def test_snapshot_endings_are_lead_endings(export, until):
    """converted, days_to_convert and ended_days of every row, against outcomes() and
    lead_endings() on every event, as the first pass computed them."""
    leads, events = export
    times = snapshot_times("2026-09-01", "2026-10-20")
    rows = scored_snapshots(leads, events, DEFAULT_RULES, times=times, horizon_days=14,
                            observed_until=until)
    end = rows.attrs["observed_until"]
    ev = events.loc[(events["ts"] <= end).to_numpy()]
    conv = outcomes(leads, ev, as_of=end)["converted_at"]
    ends = lead_endings(leads, ev, as_of=end, dark_days=None, recycled=None, columns=[])
    ended_at = ends["ended_at"].where(ends["ending"].isin(ENDED_BY))
    ids = rows["lead_id"].to_numpy(dtype=object)
    follow = rows["follow_days"].to_numpy()

    def days(at: pd.Series) -> np.ndarray:
        return ((at.reindex(ids).reset_index(drop=True) - rows["as_of"]) / DAY).to_numpy(
            dtype=float)

    dconv = days(conv)
    converted = dconv <= follow
    dend = np.maximum(days(ended_at), 0)
    ended = ~converted & (dend <= follow)
    np.testing.assert_array_equal(rows["converted"].to_numpy(), converted)
    np.testing.assert_array_equal(rows["days_to_convert"].to_numpy(),
                                  np.where(converted, dconv, np.nan))
    np.testing.assert_array_equal(rows["ended_days"].to_numpy(), np.where(ended, dend, np.nan))
    # the export has both kinds of ending in the rows, and the tie went to the conversion
    assert ended.sum() and converted.sum()
    tied = ends.index[ends["won_at"].eq(ends["opted_out_at"])]
    assert len(tied) and ends.loc[tied, "ending"].eq("won").all()


def _rows(seed: int, n: int = 600, snaps: int = 4) -> pd.DataFrame:
    """Audit rows with censoring, endings, tied scores and durations, snapshot by snapshot."""
    rng = np.random.default_rng(seed)
    follow = np.repeat(np.linspace(5, 30, snaps), n // snaps)
    conv = rng.random(n) < 0.3
    t_conv = np.where(conv, np.round(rng.uniform(0, 40, n)), np.nan)
    conv &= t_conv <= follow
    ended = np.where(~conv & (rng.random(n) < 0.2), np.round(rng.uniform(0, 30, n)), np.nan)
    return pd.DataFrame({"lead_id": rng.integers(0, n // 3, n).astype(str),
                         "as_of": np.repeat(np.arange(snaps), n // snaps),
                         "score": np.round(rng.normal(50, 10, n)), "follow_days": follow,
                         "converted": conv, "days_to_convert": np.where(conv, t_conv, np.nan),
                         "ended_days": ended})


def test_ipcw_design_is_ipcw_weights_for_every_resample():
    rows = _rows(1)
    design = IpcwDesign(rows, 20.0)
    rng = np.random.default_rng(2)
    for i in range(60):
        w = (rng.multinomial(len(rows), np.full(len(rows), 1 / len(rows))).astype(float)
             if i else np.ones(len(rows)))
        if i == 1:  # nobody weighted is censored: the curve is flat
            w[design.censored] = 0.0
        got, want = design.weights(w), ipcw_weights(rows, 20.0, w)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("shuffle", [False, True])
def test_snapshot_aucs_are_weighted_aucs(shuffle):
    """Every snapshot's AUC (one bincount over contiguous snapshots, or one per mask when the
    rows are shuffled) equals weighted_auc on that snapshot's rows, to the last bit."""
    ref, cur = _rows(3), _rows(4)
    if shuffle:
        cur = cur.sample(frac=1, random_state=0).reset_index(drop=True)
    rows = {"reference": ref, "month": cur}
    masks = {k: [(df["as_of"] == t).to_numpy() for t in sorted(df["as_of"].unique())]
             for k, df in rows.items()}
    rng = np.random.default_rng(5)
    for _ in range(20):
        w = {k: rng.integers(0, 3, len(df)).astype(float) for k, df in rows.items()}
        out = audit_figures(rows, w, horizon=20.0, threshold=55.0, probability=False,
                            decile_bins=[], snapshot_masks=masks)
        for k, df in rows.items():
            wc, wn = ipcw_weights(df, 20.0, w[k])
            s = df["score"].to_numpy()
            assert out[f"{k}.auc"] == weighted_auc(s, wc, wn)
            for i, m in enumerate(masks[k]):
                want = weighted_auc(s[m], wc[m], wn[m])
                got = out[f"{k}.snap{i}"]
                assert got == want or (np.isnan(got) and np.isnan(want)), (k, i, got, want)


def _plain_answered(data, touches, names, days, *, same_channel):
    """answered_within as the first passes computed it: a merge_asof and a merge."""
    ev = data.events
    resp = ev.loc[ev["name"].astype(object).isin(list(names)).to_numpy(),
                  ["lead_id", "ts", "channel"]].copy()
    by = ["lead_id", "channel"] if same_channel else ["lead_id"]
    cand = data.touches()[["lead_id", "ts", "channel"]].copy()
    for df in (resp, cand):
        df["lead_id"] = df["lead_id"].astype(object)
        df["channel"] = df["channel"].astype(object)
    cand = cand.dropna(subset=by).rename(columns={"ts": "t_ts"}).sort_values("t_ts")
    resp = resp.dropna(subset=by).sort_values("ts")
    m = pd.merge_asof(resp, cand, left_on="ts", right_on="t_ts", by=by, direction="backward",
                      allow_exact_matches=True)
    m = m[(m["ts"] - m["t_ts"]) <= pd.Timedelta(days=days)]
    answered = m[[*by, "t_ts"]].drop_duplicates()
    key = touches[by].astype(object).assign(t_ts=touches["ts"].array)
    hit = key.merge(answered.assign(_hit=True), on=[*by, "t_ts"], how="left")["_hit"]
    out = pd.Series(hit.eq(True).to_numpy(dtype=bool), dtype=object)
    out[~(touches["ts"] + pd.Timedelta(days=days) <= data.as_of).to_numpy()] = np.nan
    return out


@pytest.mark.parametrize("same_channel", [True, False])
def test_answered_touches_are_the_merged_ones(export, same_channel):
    leads, events = export
    data = prepare(leads, events, week="2026-W41", weeks=8)
    t = data.touches()
    names = ["connect", "reply", "email_open", "link_click"]
    changed = t.copy()  # not the report's touches any more: looked up afresh
    changed.loc[changed.index[::7], "channel"] = "sms"
    for touches in (t, t[t["channel"].notna()], changed):
        got = answered_within(data, touches, names, 3, same_channel=same_channel)
        want = _plain_answered(data, touches, names, 3, same_channel=same_channel)
        pd.testing.assert_series_equal(got, want)
        assert got.eq(True).sum() > 10 and got.eq(False).sum() > 10 and got.isna().any()
    # the export has repeated touches that the answer's touch shares its key with
    key = ["lead_id", "channel", "ts"] if same_channel else ["lead_id", "ts"]
    hit = got.eq(True).to_numpy()
    assert touches[hit].duplicated(key, keep=False).any()


def test_segments_by_codes_are_the_labelled_ones():
    """Categorical intent (with a category outside the list and missing values) read by code
    gives the segments of the same values as plain objects; routes by category are the routes
    of the labels."""
    from nurturelab.segments import route, segments

    rng = np.random.default_rng(6)
    n = 400
    intent = rng.choice(np.array(["low", "medium", "high", "urgent", None], dtype=object), n)
    fit = np.where(rng.random(n) < 0.1, np.nan, rng.random(n))
    fit[:3] = 0.6  # at the threshold
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)], "source": "web",
                          "intent": pd.Categorical(intent, ["high", "low", "medium", "urgent"]),
                          "fit": fit})
    got = segments(leads)
    want = segments(leads.assign(intent=leads["intent"].astype(object)))
    pd.testing.assert_frame_equal(got, want)
    assert got["intent"].eq("unknown").sum() > 50 and got["fit_band"].eq("unknown").any()
    labels = got.assign(intent=got["intent"].astype(str), fit_band=got["fit_band"].astype(str))
    pd.testing.assert_series_equal(route(got), route(labels))
    assert set(route(got)) == {"immediate", "educational", "standard", "deprioritised"}


def test_snapshot_from_whole_columns_is_the_cut_one(export):
    """snapshot() codes the events whole and cuts them; the first pass cut them first."""
    from nurturelab.schema import ACTIVITY_NAMES
    from nurturelab.scoring.features import coded_snapshot, snapshot

    leads, events = export
    at = pd.Timestamp("2026-09-20 12:00", tz="UTC")
    ld = leads.loc[(leads["created_at"] <= at).to_numpy()]
    ids = pd.Index(ld["lead_id"].astype(object), name="lead_id")
    code = ids.get_indexer(events["lead_id"])
    keep = (events["ts"] <= at).to_numpy() & (code >= 0)
    ev = events.loc[keep]
    name_code, seen = pd.factorize(ev["name"], sort=False)
    want = coded_snapshot(ld, ids, np.arange(len(ids)), len(ids), at, code[keep],
                          ((at - ev["ts"]) / DAY).to_numpy(), name_code,
                          pd.Index(np.asarray(seen, dtype=object)),
                          np.asarray(ev["type"].eq("touch"), dtype=bool), (7, 30, 90),
                          ACTIVITY_NAMES, ())
    got = snapshot(leads, events, as_of=at)
    pd.testing.assert_frame_equal(got, want)
    assert got["touches"].sum() > 100 and (got["days_since_activity"] > 0).any()
