"""The second pass of issue 17: the report's week-end states, the audit's rows, the rates and
the segment labels from their fast paths equal the plain computations they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nurturelab._util import rate_ci
from nurturelab.competing import lead_endings
from nurturelab.funnel import DEFAULT_FUNNEL
from nurturelab.report.aggregate import aggregate
from nurturelab.report.data import prepare
from nurturelab.scoring.audit import scored_snapshots
from nurturelab.scoring.audit.snapshots import ENDED_BY
from nurturelab.scoring.features import open_leads, snapshot
from nurturelab.scoring.points import DEFAULT_RULES
from nurturelab.segments import segments

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def export():
    """The synthetic export, plus what it lacks: stage events into the first stage after
    creation, and leads lost and then won (their loss must still close them at a time between)."""
    from nurturelab.synthetic import make_export

    leads, events = make_export(n_leads=300, seed=1)
    rng = np.random.default_rng(3)
    some = leads.sample(40, random_state=2)
    new = pd.DataFrame({"lead_id": some["lead_id"].to_numpy(), "type": "stage",
                        "name": DEFAULT_FUNNEL.names[0],
                        "ts": (some["created_at"] + pd.to_timedelta(
                            rng.uniform(0, 10, len(some)), unit="D")).to_numpy()})
    won = events.loc[events["name"].astype(object).eq(DEFAULT_FUNNEL.conversion_stage)
                     & events["type"].astype(object).eq("stage")].head(15)
    lost = won[["lead_id", "ts"]].assign(type="stage", name=DEFAULT_FUNNEL.lost,
                                         ts=won["ts"] - 5 * DAY)
    extra = pd.concat([new, lost], ignore_index=True)
    extra["type"] = pd.Categorical(extra["type"], dtype=events["type"].dtype)
    ev = pd.concat([events, extra], ignore_index=True).sort_values("ts", kind="stable")
    return leads, ev.reset_index(drop=True)


def test_states_at_each_week_end_are_the_outcomes_then(export):
    leads, events = export
    data = prepare(leads, events, week="2026-W41", weeks=8)
    for s in [*data.starts, data.as_of]:
        for t in (s, s + 3 * DAY - pd.Timedelta(1, "ns")):
            t = min(t, data.as_of)
            want = data.outcomes_at(t)
            got = data.states_at(t)
            assert got.index.equals(want.index)
            np.testing.assert_array_equal(got["status"].to_numpy(),
                                          want["status"].astype(object).to_numpy())
            np.testing.assert_array_equal(got["stage_index"].to_numpy(),
                                          want["stage_index"].to_numpy())
            np.testing.assert_array_equal(got["days_in_stage"].to_numpy(),
                                          want["days_in_stage"].to_numpy())
    # the export exercises both special cases
    out = data.out
    ids = pd.Index(data.lead_ids[out.index])  # the report's lead codes, as the ids
    assert (out["created_at"].to_numpy() > leads.set_index("lead_id")["created_at"]
            .reindex(ids).to_numpy()).any()  # a first-stage event after creation
    assert (out["status"].astype(object).eq("won").to_numpy()
            & ids.isin(events[events["name"].eq(DEFAULT_FUNNEL.lost)]["lead_id"])).any()


def _plain_rows(leads, events, times, horizon, until):
    """scored_snapshots as the first pass computed it: open leads, features and endings from
    outcomes, snapshot and lead_endings on every event, the next touch per time."""
    ev = events.loc[(events["ts"] <= until).to_numpy()]
    from nurturelab.funnel import outcomes

    conv = outcomes(leads, ev, as_of=until)["converted_at"]
    ends = lead_endings(leads, ev, as_of=until, dark_days=None, recycled=None, columns=[])
    ended_at = ends["ended_at"].where(ends["ending"].isin(ENDED_BY))
    touch = ev.loc[ev["type"].astype(object).isin(("touch", "stage")).to_numpy(),
                   ["lead_id", "ts"]]
    touch = touch.assign(lead_id=touch["lead_id"].astype(object)).sort_values("ts")
    frames = []
    for t in times:
        ids = open_leads(leads, ev, as_of=t)
        X = snapshot(leads, ev, as_of=t).loc[ids]
        follow = min(horizon, (until - t) / DAY)
        dconv = ((conv.reindex(ids) - t) / DAY).to_numpy(dtype=float)
        converted = dconv <= follow
        dend = np.maximum(((ended_at.reindex(ids) - t) / DAY).to_numpy(dtype=float), 0.0)
        ended = ~converted & (dend <= follow)
        nxt = pd.merge_asof(pd.DataFrame({"lead_id": np.asarray(ids, dtype=object), "as_of": t,
                                          "_i": np.arange(len(ids))}),
                            touch.rename(columns={"ts": "next_ts"}), left_on="as_of",
                            right_on="next_ts", by="lead_id", direction="forward",
                            allow_exact_matches=False).sort_values("_i")
        rows = pd.DataFrame({"lead_id": np.asarray(ids, dtype=object), "as_of": t,
                             "follow_days": follow, "converted": converted,
                             "days_to_convert": np.where(converted, dconv, np.nan),
                             "ended_days": np.where(ended, dend, np.nan),
                             "next_touch_days": ((nxt["next_ts"] - t) / DAY).to_numpy(float)})
        frames.append(pd.concat([rows, X.reset_index(drop=True)], axis=1))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("until", [None, "2026-10-12 06:00"])
def test_scored_snapshots_rows_are_the_plain_ones(export, until):
    leads, events = export
    times = pd.date_range("2026-08-20", "2026-10-15", freq="9D", tz="UTC")
    got = scored_snapshots(leads, events, DEFAULT_RULES, times=times, horizon_days=21,
                           observed_until=until)
    end = events["ts"].max() if until is None else pd.Timestamp(until, tz="UTC")
    want = _plain_rows(leads, events, [t for t in times if t <= end], 21.0, end)
    assert len(got) > 200 and got["ended_days"].notna().any()
    pd.testing.assert_frame_equal(got.drop(columns="score"), want, check_exact=True)


def _plain_aggregate(data, items, kind, dims, extra):
    """aggregate() by groupby, as it was before the rates' bincounts."""
    items = items[items["week"].notna()]
    joined = data.lead_dims.reindex(items["lead_id"].astype(object))
    items = items.assign(**{d: joined[d].to_numpy() for d in dims if d in joined.columns})
    frames = []
    for name, col in [("all", None)] + [(d, d) for d in (*dims, *extra) if d in items.columns]:
        keys = ["week"] if col is None else ["week", col]
        sub = items if col is None else items[items[col].notna()]
        if not len(sub):
            continue
        s = sub.groupby(keys, sort=True, observed=True)["value"].agg(["sum", "count"])
        lo, hi = rate_ci(s["sum"].to_numpy(), s["count"].to_numpy())
        f = pd.DataFrame({"value": (s["sum"] / s["count"]).to_numpy(dtype=float),
                          "n": s["count"].to_numpy(dtype=int), "low": lo, "high": hi})
        idx = s.index.to_frame(index=False)
        f["week"] = idx["week"].to_numpy()
        f["segment"] = "all" if col is None else [f"{name}={v}" for v in idx[col].astype(str)]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def test_rates_by_bincount_are_the_groupby_rates(export):
    leads, events = export
    data = prepare(leads, events, week="2026-W41", weeks=4)
    rng = np.random.default_rng(11)
    n = 3000
    ids = rng.choice(data.lead_dims.index.to_numpy(), n)
    weeks = np.array([*data.labels, None], dtype=object)
    items = pd.DataFrame({"week": rng.choice(weeks, n), "value": rng.random(n) < 0.3,
                          "lead_id": ids,
                          "step": rng.choice(np.array(["0", "1", "10", "2", None], dtype=object),
                                             n)})
    dims = ("intent", "source", "route", "fit_band")
    got = aggregate(data, items, "rate", dims=dims, extra=("step",))
    want = _plain_aggregate(data, items, "rate", dims, ("step",))
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["segment"].str.startswith("step=").any()


def test_segment_labels_are_the_concatenated_ones():
    leads = pd.DataFrame({"lead_id": list("abcdefg"), "source": "web",
                          "intent": ["high", None, "urgent", "low", "medium", np.nan, "high"],
                          "fit": [0.9, np.nan, 0.1, 0.7, 0.2, 0.6, 0.59]})
    seg = segments(leads)
    want = (seg["intent"].astype(str) + " intent · " + seg["fit_band"].astype(str) + " fit")
    pd.testing.assert_series_equal(seg["segment"], want, check_names=False)
    assert seg["segment"].iloc[2] == "nan intent · low fit"


def test_points_at_one_time_are_the_searched_ones():
    """_upto's one-time path (scores() at an as-of) gives the counts and latest times of its
    general path (forced by a second query time)."""
    from nurturelab.scoring.points import _upto

    rng = np.random.default_rng(0)
    for _ in range(200):
        n_leads, m = int(rng.integers(1, 50)), int(rng.integers(1, 400))
        lead = rng.integers(0, n_leads, m)
        ns = rng.integers(0, 50, m).astype(np.int64)  # many ties with the query time
        q = rng.integers(0, n_leads + 3, int(rng.integers(1, 60)))  # leads without events too
        qn = np.full(len(q), int(rng.integers(-5, 60)), dtype=np.int64)
        for inclusive in (True, False):
            one = _upto(lead, ns, q, qn, inclusive=inclusive)
            general = _upto(lead, ns, np.r_[q, 0], np.r_[qn, 10**6], inclusive=inclusive)
            np.testing.assert_array_equal(one[0], general[0][:-1])
            np.testing.assert_array_equal(one[1], general[1][:-1])
