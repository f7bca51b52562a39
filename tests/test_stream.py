"""The core types: validation, immutability, concat/split, pipelines."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wearsense import Chunk, Modality, Pipeline, StreamInfo, WearsenseError
from wearsense.errors import StreamError
from wearsense.stream import concat, count_lost, split, split_every


def make_chunk(n=100, c=3, seq=0, rate=100.0, clock="device:x"):
    rng = np.random.default_rng(0)
    return Chunk(rng.standard_normal((n, c)), np.arange(n) / rate, seq, clock)


def test_chunk_converts_to_float32_and_float64_and_is_immutable():
    c = Chunk(np.arange(6, dtype=np.int16).reshape(3, 2), [0.0, 0.1, 0.2], 5)
    assert c.data.dtype == np.float32 and c.t.dtype == np.float64
    assert c.seq.tolist() == [5, 6, 7] and c.seq0 == 5
    with pytest.raises(ValueError):
        c.data[0, 0] = 1.0
    with pytest.raises(AttributeError):
        c.clock = "host"


def test_one_dimensional_data_is_one_channel():
    assert Chunk(np.zeros(4), np.arange(4.0)).n_channels == 1


@pytest.mark.parametrize(
    "data, t, match",
    [
        (np.zeros((3, 2, 1)), np.arange(3.0), "2-D"),
        (np.zeros((3, 2)), np.arange(4.0), "one timestamp per sample"),
        (np.zeros((3, 2)), [0.0, 0.2, 0.1], "backwards"),
        (np.zeros((3, 2)), [0.0, np.nan, 0.1], "finite"),
        (np.array([["a", "b"]]), [0.0], "numeric"),
    ],
)
def test_malformed_chunks_are_rejected_with_the_reason(data, t, match):
    with pytest.raises(StreamError, match=match):
        Chunk(data, t)


def test_sequence_numbers_must_increase():
    with pytest.raises(StreamError, match="increase strictly"):
        Chunk(np.zeros((3, 1)), np.arange(3.0), [0, 2, 2])
    with pytest.raises(StreamError, match="one sequence number per sample"):
        Chunk(np.zeros((3, 1)), np.arange(3.0), [0, 1])


def test_errors_are_wearsense_errors():
    with pytest.raises(WearsenseError):
        Chunk(np.zeros((3, 1)), np.arange(4.0))


def test_stream_info_validates_channels_units_and_rate():
    info = StreamInfo("emg", "emg", ["a", "b"], "V", 2000)
    assert info.modality is Modality.EMG and info.units == ("V", "V") and info.n_channels == 2
    with pytest.raises(StreamError, match="duplicate"):
        StreamInfo("x", "EMG", ["a", "a"], "V", 1)
    with pytest.raises(StreamError, match="2 units for 3 channels"):
        StreamInfo("x", "EMG", ["a", "b", "c"], ["V", "V"], 1)
    with pytest.raises(StreamError, match="rate_hz"):
        StreamInfo("x", "EMG", ["a"], "V", -1)
    with pytest.raises(StreamError, match="unknown modality 'emgg'"):
        StreamInfo("x", "emgg", ["a"], "V", 1)
    with pytest.raises(StreamError, match="no channel 'c'; channels: a, b"):
        info.index("c")


def test_stream_info_metadata_is_read_only():
    info = StreamInfo("emg", "EMG", ["a"], "V", 1, metadata={"placement": ["x"]})
    with pytest.raises(TypeError):
        info.metadata["placement"] = "y"


def test_nan_is_refused_for_emg_but_allowed_for_pose():
    emg = StreamInfo("emg", "EMG", ["a"], "V", 10)
    pose = StreamInfo("pose", "POSE", ["a"], "m", 10)
    chunk = Chunk(np.array([[1.0], [np.nan]]), [0.0, 0.1])
    pose.check(chunk)
    with pytest.raises(StreamError, match="non-finite value in channel 'a' at t=0.100000"):
        emg.check(chunk)
    with pytest.raises(StreamError, match="chunk has 1 channels, stream has 2"):
        StreamInfo("x", "EMG", ["a", "b"], "V", 1).check(chunk)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 100), max_size=8))
def test_split_then_concat_is_identity(cuts):
    c = make_chunk(100)
    pieces = split(c, sorted(cuts))
    assert concat(pieces).equals(c)
    assert sum(p.n for p in pieces) == c.n


def test_split_every_and_bad_boundaries():
    c = make_chunk(25)
    assert [p.n for p in split_every(c, 10)] == [10, 10, 5]
    with pytest.raises(StreamError, match="sorted within 0..25"):
        split(c, [30])
    with pytest.raises(StreamError):
        list(split_every(c, 0))


def test_concat_refuses_mixed_clocks_and_channel_counts():
    with pytest.raises(StreamError, match="different clocks"):
        concat([make_chunk(clock="a"), make_chunk(seq=100, clock="b")])
    with pytest.raises(StreamError, match="3 and 2 channels"):
        concat([make_chunk(c=3), make_chunk(c=2, seq=100)])
    with pytest.raises(StreamError, match="at least one"):
        concat([])


def test_concat_keeps_sequence_gaps_and_count_lost_counts_them():
    a = Chunk(np.zeros((10, 1)), np.arange(10.0), 0)
    b = Chunk(np.zeros((10, 1)), np.arange(15.0, 25.0), 15)
    whole = concat([a, b])
    assert count_lost(whole.seq) == 5
    assert count_lost(b.seq, previous=9) == 5
    assert count_lost(np.zeros(0, np.int64)) == 0


def test_empty_chunk_and_slicing():
    e = Chunk.empty(4)
    assert e.n == 0 and e.n_channels == 4 and e.seq0 == -1
    c = make_chunk(10)
    assert c[2:5].seq.tolist() == [2, 3, 4]
    with pytest.raises(StreamError):
        c[::2]


class Gain:
    def __init__(self, k):
        self.k = k
        self.calls = 0

    def process(self, chunk):
        self.calls += 1
        return chunk.with_data(chunk.data * self.k)

    def reset(self):
        self.calls = 0


def test_pipeline_chains_stages_and_resets_them():
    a, b = Gain(2.0), Gain(3.0)
    pipe = Pipeline([a, b])
    c = make_chunk(10)
    out = pipe.run(c)
    np.testing.assert_allclose(out.data, c.data * 6)
    assert a.calls == 1
    pipe.reset()
    assert a.calls == 0 and b.calls == 0
    with pytest.raises(StreamError, match="process"):
        Pipeline([object()])
