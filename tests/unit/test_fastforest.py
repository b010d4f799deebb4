from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given
from sklearn.ensemble import IsolationForest
from skops import io as sio

from energy_core.detection.fastforest import CompiledForest, average_path_length, compile_forest
from tests.strategies import forest_problems

TOLERANCE = 1e-9


def fitted(train: np.ndarray, settings: dict[str, object]) -> IsolationForest:
    with warnings.catch_warnings():
        # Tiny float max_samples on tiny data: scikit-learn warns, and still fits.
        warnings.simplefilter("ignore", UserWarning)
        return IsolationForest(**settings).fit(train)


@given(forest_problems())
def test_compiled_scores_equal_scikit_learns(problem):
    train, query, settings = problem
    forest = fitted(train, settings)
    compiled = compile_forest(forest)
    for X in (query, train):
        expected = forest.score_samples(X)
        actual = compiled.score_samples(X)
        assert expected.shape == actual.shape
        assert np.max(np.abs(expected - actual), initial=0.0) <= TOLERANCE


@given(forest_problems(allow_nan=True))
def test_missing_values_take_the_branch_scikit_learn_takes(problem):
    train, query, settings = problem
    forest = fitted(train, settings)
    query = query.copy()
    query[::2, 0] = np.nan
    expected = forest.score_samples(query)
    assert np.max(np.abs(expected - compile_forest(forest).score_samples(query)), initial=0.0) <= (
        TOLERANCE
    )


def test_a_default_forest_on_sub_sampled_columns_scores_like_scikit_learn():
    rng = np.random.default_rng(7)
    train = rng.normal(size=(3000, 6))
    query = rng.normal(scale=3.0, size=(5000, 6))
    forest = IsolationForest(max_features=0.5, random_state=0).fit(train)
    compiled = compile_forest(forest)
    assert compiled.n_trees == 100
    assert compiled.levels == 8  # ceil(log2(256))
    assert np.max(np.abs(forest.score_samples(query) - compiled.score_samples(query))) <= (
        TOLERANCE
    )


def test_average_path_length_matches_the_closed_form():
    n = np.array([0, 1, 2, 3, 256])
    harmonic = np.log(255.0) + np.euler_gamma
    expected = [0.0, 0.0, 1.0, 2.0 * (np.log(2.0) + np.euler_gamma) - 4.0 / 3.0, 0.0]
    expected[-1] = 2.0 * harmonic - 2.0 * 255.0 / 256.0
    assert np.allclose(expected, average_path_length(n), rtol=0, atol=1e-12)


def test_a_single_training_row_scores_minus_one_half_everywhere():
    forest = IsolationForest(random_state=0).fit(np.zeros((1, 2)))
    compiled = compile_forest(forest)
    X = np.array([[0.0, 0.0], [5.0, -5.0]])
    assert forest.score_samples(X).tolist() == compiled.score_samples(X).tolist()


def test_no_rows_give_no_scores():
    forest = IsolationForest(n_estimators=3, random_state=0).fit(np.eye(4))
    assert compile_forest(forest).score_samples(np.empty((0, 4))).shape == (0,)


def test_a_matrix_of_the_wrong_width_is_refused():
    forest = IsolationForest(n_estimators=3, random_state=0).fit(np.eye(4))
    with pytest.raises(ValueError, match="4 columns"):
        compile_forest(forest).score_samples(np.zeros((2, 3)))


def test_an_unfitted_forest_cannot_be_compiled():
    with pytest.raises(ValueError, match="fitted"):
        compile_forest(IsolationForest())


def test_the_state_is_only_numpy_arrays_and_builtins():
    forest = IsolationForest(n_estimators=5, random_state=0).fit(np.eye(6))
    state = compile_forest(forest).__getstate__()
    assert all(isinstance(value, np.ndarray | int | float) for value in state.values())
    assert all(type(value) in (int, float) for value in state.values() if np.isscalar(value))


def test_a_pickled_forest_scores_the_same():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    compiled = compile_forest(IsolationForest(n_estimators=10, random_state=0).fit(X))
    restored = pickle.loads(pickle.dumps(compiled))
    assert isinstance(restored, CompiledForest)
    assert compiled.score_samples(X).tolist() == restored.score_samples(X).tolist()


def test_a_forest_stored_with_skops_loads_with_one_trusted_type():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    compiled = compile_forest(IsolationForest(n_estimators=10, random_state=0).fit(X))
    data = sio.dumps(compiled)
    assert sio.get_untrusted_types(data=data) == ["energy_core.detection.fastforest.CompiledForest"]
    restored = sio.loads(data, trusted=["energy_core.detection.fastforest.CompiledForest"])
    assert compiled.score_samples(X).tolist() == restored.score_samples(X).tolist()


def test_a_state_missing_a_field_is_refused():
    forest = IsolationForest(n_estimators=2, random_state=0).fit(np.eye(3))
    state = compile_forest(forest).__getstate__()
    del state["roots"]
    with pytest.raises(ValueError, match="roots"):
        CompiledForest.__new__(CompiledForest).__setstate__(state)


@pytest.mark.parametrize(
    ("field", "value"),
    [("left", 10**6), ("feature", 3), ("roots", -1)],
)
def test_a_state_whose_indices_leave_the_arrays_is_refused(field, value):
    forest = IsolationForest(n_estimators=2, random_state=0).fit(np.eye(3))
    state = compile_forest(forest).__getstate__()
    state[field] = state[field].copy()
    state[field][-1] = value
    with pytest.raises(ValueError, match="out of range"):
        CompiledForest.__new__(CompiledForest).__setstate__(state)
