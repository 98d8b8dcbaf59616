"""Reading the earlier pipeline's joblib pickles without letting them run arbitrary code.

A pickle names the functions and classes it wants called while it is loaded; an ordinary
``pickle.load`` or ``joblib.load`` calls whatever it names (``os.system`` included).
:func:`restricted_load` is joblib's own unpickler limited to an allow-list of (module, name)
globals: anything else is refused with :class:`UnsafePickleError` before it is imported, let
alone called. Two allow-lists are used by the workflow:

- :data:`NUMPY_GLOBALS`: plain numpy arrays, dtypes and scalars, and
  ``numpy.polynomial.Polynomial`` (the hot-star correction file);
- :data:`FOREST_GLOBALS`: those plus scikit-learn's ``RandomForestRegressor``,
  ``DecisionTreeRegressor`` and its Cython ``Tree`` (the published forests).

joblib stores an array as a wrapper followed by raw bytes; an array of Python objects (such as the
``feature_names_in_`` of a forest fitted on a DataFrame) is stored as a nested pickle, which is
read here by an unpickler with the same allow-list (never by an unrestricted ``pickle.load``).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

NUMPY_GLOBALS = frozenset(
    {
        ("numpy.polynomial.polynomial", "Polynomial"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
    }
)

FOREST_GLOBALS = NUMPY_GLOBALS | frozenset(
    {
        ("sklearn.ensemble._forest", "RandomForestRegressor"),
        ("sklearn.tree._classes", "DecisionTreeRegressor"),
        ("sklearn.tree._tree", "Tree"),
    }
)


class PickleError(ValueError):
    """A pickle could not be read; the message says why."""


class UnsafePickleError(PickleError):
    """A pickle asked for something outside the allow-list of what such a file may hold."""


#: How messages name each allow-list.
DESCRIPTIONS = {
    NUMPY_GLOBALS: "numpy arrays and numpy.polynomial.Polynomial",
    FOREST_GLOBALS: (
        "scikit-learn's RandomForestRegressor, DecisionTreeRegressor and Tree, and numpy arrays"
    ),
}


def _allowed_text(allowed: frozenset) -> str:
    if allowed in DESCRIPTIONS:
        return DESCRIPTIONS[allowed]
    return ", ".join(f"{m}.{n}" for m, n in sorted(allowed) if m != "copyreg")


def _unpickler_classes(allowed: frozenset, what: str):
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

    def refuse(module, name):
        raise UnsafePickleError(
            f"refusing to load {module}.{name} from {what}: only {_allowed_text(allowed)} are "
            "allowed (a pickle can run arbitrary code when loaded)"
        )

    def restricted(base):
        def find_class(self, module, name):
            if (module, name) not in allowed:
                refuse(module, name)
            return base.find_class(self, module, name)

        return find_class

    class Inner(pickle.Unpickler):
        """The nested pickle of an object array, under the same allow-list."""

        find_class = restricted(pickle.Unpickler)

    class Restricted(NumpyUnpickler):
        dispatch = NumpyUnpickler.dispatch.copy()
        find_class = restricted(NumpyUnpickler)

        def load_build(self):
            target, state = self.stack[-2], self.stack[-1]
            if not isinstance(target, NumpyArrayWrapper):
                NumpyUnpickler.load_build(self)
                return
            dtype = state.get("dtype") if isinstance(state, dict) else None
            if not isinstance(dtype, np.dtype):
                raise UnsafePickleError(f"refusing a joblib array of unknown dtype in {what}")
            if not dtype.hasobject:
                NumpyUnpickler.load_build(self)
                return
            # Read the object array's nested pickle here, restricted, whatever joblib's version
            # would do with it (older versions call an unrestricted pickle.load).
            pickle._Unpickler.load_build(self)  # joblib's base: sets the wrapper's state
            wrapper = self.stack.pop()
            array = Inner(self.file_handle).load()
            if not isinstance(array, np.ndarray):
                raise UnsafePickleError(f"an object array in {what} did not unpickle to an array")
            self.stack.append(array.reshape(wrapper.shape))

        dispatch[pickle.BUILD[0]] = load_build

    return Restricted


def restricted_load(path: str | os.PathLike, allowed: frozenset, what: str = "a pickle"):
    """Load a joblib (or plain) pickle admitting only the ``allowed`` (module, name) globals.

    ``what`` names the file in messages ("a correction pickle"). Raises
    :class:`UnsafePickleError` for anything outside the allow-list and :class:`PickleError` for a
    file that is not a readable pickle.
    """
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    path = Path(path)
    unpickler_cls = _unpickler_classes(frozenset(allowed), what)
    try:
        with open(path, "rb") as fh:
            with _validate_fileobject_and_memmap(fh, str(path), None) as (fobj, _):
                if isinstance(fobj, str):  # pre-0.10 joblib format with companion files
                    raise UnsafePickleError(f"{path}: obsolete joblib format is not supported")
                return unpickler_cls(str(path), fobj, ensure_native_byte_order=True).load()
    except UnsafePickleError:
        raise
    except Exception as err:  # corrupt, truncated, or not a pickle at all
        raise PickleError(f"{path} is not a readable pickle ({what}): {err}") from err
