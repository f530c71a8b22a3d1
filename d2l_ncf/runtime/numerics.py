"""Which CPU arithmetic MXNet uses, fixed before MXNet is imported.

The last bits of a run depend on the machine as well as the seed: oneDNN
chooses its kernels by the CPU's instruction set (AVX-512 kernels sum in
another order than AVX2 ones), and OpenMP splits reductions by the number
of threads. Measured with the recipe's settings (docs/GUARANTEES.md):
capping oneDNN at AVX2 on an AVX-512 machine, or running 2 threads
instead of 1, each move the first epoch's loss in the ninth digit, and
the hit rate of a 14-epoch run by a few users.

Two modes, chosen by ``D2L_NCF_NUMERICS`` (or ``d2l-ncf train --numerics``):

- ``portable`` (the default): oneDNN capped at AVX2, one OpenMP and one
  OpenBLAS thread, and MXNet's own defaults for every other setting that
  changes arithmetic, whatever the environment says. Every x86-64 CPU with
  AVX2 (Intel since 2013, AMD since 2015) then computes the same bits.
  Below AVX2 the cap cannot be reached; such a CPU runs its best kernels
  and is told that its numbers will differ from the references.
- ``native``: the environment and the CPU decide (faster on many cores).

This module imports nothing heavy: `configure` must run before MXNet.
"""
import io
import os
import sys

ENV = 'D2L_NCF_NUMERICS'
MODES = ('portable', 'native')
DEFAULT_MODE = 'portable'

# oneDNN's names for instruction sets, weakest first, with the CPU flags
# (as Linux prints them) each needs.
ISAS = (('SSE41', ('sse4_1',)),
        ('AVX', ('avx',)),
        ('AVX2', ('avx2',)),
        ('AVX512_CORE', ('avx512f', 'avx512bw', 'avx512vl', 'avx512dq')))
BASELINE_ISA = 'AVX2'

# Portable mode: variable -> the value it gets (None: removed, so MXNet or
# oneDNN uses its built-in default). Each changes arithmetic, not only speed.
PORTABLE = {
    'DNNL_MAX_CPU_ISA': BASELINE_ISA,   # kernels by instruction set
    'OMP_NUM_THREADS': '1',             # reductions split by threads
    'MXNET_OMP_MAX_THREADS': '1',
    'OPENBLAS_NUM_THREADS': '1',
    'MXNET_MKLDNN_ENABLED': None,       # 0 swaps oneDNN for other kernels
    'MXNET_SAFE_ACCUMULATION': None,    # wider accumulators in reductions
    'DNNL_DEFAULT_FPMATH_MODE': None,   # lets oneDNN round to bf16
    'MXNET_SUBGRAPH_BACKEND': None,     # fuses operators
}
# Recorded in every run, whatever the mode.
RECORDED = tuple(PORTABLE) + ('OPENBLAS_CORETYPE', 'MXNET_ENGINE_TYPE',
                              'MXNET_CPU_WORKER_NTHREADS')

_state = {}
MAX_THREADS = 1024  # OMP_NUM_THREADS in native mode (`check_threads`)


class NumericsError(ValueError):
    """An unknown mode, or one asked for after MXNet started."""


def cpu_info():
    """(model name, set of instruction-set flags) of this CPU."""
    model, flags = None, set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                key = key.strip()
                if key == 'model name' and model is None:
                    model = value.strip()
                elif key == 'flags' and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    if model is None:
        import platform
        model = platform.processor() or platform.machine()
    return model, flags


def best_isa(flags):
    """The strongest of `ISAS` the CPU has (None if unknown)."""
    best = None
    for name, needs in ISAS:
        if all(flag in flags for flag in needs):
            best = name
    return best


def effective_isa(cap, flags):
    """What oneDNN runs with `cap` on a CPU with `flags`."""
    best, names = best_isa(flags), [name for name, _ in ISAS]
    if best is None or cap not in names:
        return best
    return names[min(names.index(best), names.index(cap))]


def requested_mode(environ=None):
    """The mode ``D2L_NCF_NUMERICS`` names (default portable)."""
    environ = os.environ if environ is None else environ
    mode = environ.get(ENV, '').strip().lower() or DEFAULT_MODE
    if mode not in MODES:
        raise NumericsError(
            f'{ENV}={environ[ENV]!r} is not a numerics mode: expected one '
            f'of {", ".join(MODES)}')
    return mode


def configure(mode=None):
    """Apply numerics `mode` (None: the one ``D2L_NCF_NUMERICS`` names,
    else portable) to this process; returns the state `record` reports.

    The package's import applies the environment's mode; the command
    line then applies its ``--numerics``, which replaces it while MXNet
    is not loaded yet (after, it is an error). What portable mode
    overrode is said once, as MXNet loads (`announce`).
    """
    if _state and mode in (None, _state['mode']):
        return _state
    if _state:
        if 'mxnet' in sys.modules:
            raise NumericsError(
                f'--numerics {mode}: this process already runs MXNet in '
                f'{_state["mode"]} mode; set {ENV}={mode} before it starts')
        for name, value in _state['original'].items():  # the user's
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if mode is not None:
        os.environ[ENV] = mode
    try:  # before MXNet loads: it would abort or crash
        check_threads(os.environ)
    except NumericsError as err:
        print(f'd2l_ncf: error: {err}', file=sys.stderr)
        raise SystemExit(2) from None
    model, flags = cpu_info()
    notes = io.StringIO()
    _state.clear()
    _state.update(apply(os.environ, flags, notes,
                        late='mxnet' in sys.modules), cpu=model,
                  notes=notes.getvalue())
    return _state


def announce():
    """Say once on stderr what `configure` overrode or could not do."""
    sys.stderr.write(configure().pop('notes', ''))


def check_threads(environ):
    """Refuse in native mode an OMP_NUM_THREADS MXNet dies on loading."""
    value = environ.get('OMP_NUM_THREADS', '').strip()
    if environ.get(ENV, '').strip().lower() == 'native' and value and not (
            value.isascii() and value.isdigit()
            and 1 <= int(value) <= MAX_THREADS):
        raise NumericsError(
            f'OMP_NUM_THREADS={environ["OMP_NUM_THREADS"]!r}: expected a '
            f'whole number of threads from 1 to {MAX_THREADS}; native '
            f'numerics pass it to MXNet, which stops on anything else. Set '
            f'it so, unset it, or use portable numerics (one thread)')


def apply(environ, flags, stream, late=False):
    """Set `environ` for the mode it names; say what was overridden.

    In portable mode every variable of `PORTABLE` gets its value; values
    the user had set are overridden and named once on `stream`. `late`:
    MXNet is already loaded, so changes come too late to act.
    """
    try:
        mode = requested_mode(environ)
    except NumericsError as err:
        print(f'd2l_ncf: {err}; using {DEFAULT_MODE}', file=stream)
        mode = DEFAULT_MODE
    overridden, changed = {}, False
    original = {name: environ.get(name) for name in PORTABLE}
    if mode == 'portable':
        for name, value in PORTABLE.items():
            old = environ.get(name)
            if old == value:
                continue
            changed = True
            if old is not None:
                overridden[name] = old
            environ.pop(name, None)
            if value is not None:
                environ[name] = value
        if overridden:
            told = ', '.join(f'{k}={v}' for k, v in sorted(overridden.items()))
            print(f'd2l_ncf: portable numerics override {told} (set '
                  f'{ENV}=native to keep them)', file=stream)
        best = best_isa(flags)
        if best is not None and effective_isa(BASELINE_ISA, flags) != \
                BASELINE_ISA:
            print(f'd2l_ncf: this CPU has no {BASELINE_ISA} (best: {best});'
                  f' its numbers will differ in the last bits from runs on '
                  f'CPUs with {BASELINE_ISA}', file=stream)
        if late and changed:
            print('d2l_ncf: MXNet was imported before d2l_ncf, so the '
                  'portable numerics could not be fully applied; import '
                  'd2l_ncf first (or set the variables yourself) for '
                  'numbers comparable with the references', file=stream)
    return {'mode': mode, 'flags': flags, 'overridden': overridden,
            'original': original,
            'applied': mode == 'native' or not (late and changed),
            'environment': {k: environ.get(k) for k in RECORDED}}


def mode():
    """The mode in force ('portable' or 'native')."""
    return configure()['mode']


def _library_versions():
    """MXNet's oneDNN (from its headers) and OpenBLAS (asked)."""
    import ctypes
    import re
    import mxnet
    root = os.path.dirname(mxnet.__file__)
    onednn = openblas = None
    header = os.path.join(root, 'include', 'mkldnn', 'oneapi', 'dnnl',
                          'dnnl_version.h')
    try:
        with open(header) as f:
            parts = dict(re.findall(r'#define DNNL_VERSION_(MAJOR|MINOR|'
                                    r'PATCH)\s+(\d+)', f.read()))
        onednn = '.'.join(parts[p] for p in ('MAJOR', 'MINOR', 'PATCH'))
    except (OSError, KeyError):
        pass
    try:
        lib = ctypes.CDLL(os.path.join(root, 'libopenblas.so.0'))
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        openblas = {'config': lib.openblas_get_config().decode(),
                    'core': lib.openblas_get_corename().decode()}
    except (OSError, AttributeError):
        pass
    return onednn, openblas


def omp_threads():
    """The OpenMP threads MXNet's operators run with (None if unknown)."""
    import ctypes
    try:
        return int(ctypes.CDLL('libgomp.so.1').omp_get_max_threads())
    except (OSError, AttributeError):
        return None


def record():
    """The numerics in force, as metrics.json records them."""
    state = configure()
    env = state['environment']
    onednn, openblas = _library_versions()
    simd = sorted(f for f in state['flags']
                  if f.startswith(('sse', 'ssse', 'avx', 'fma', 'amx')))
    cap = env.get('DNNL_MAX_CPU_ISA')
    return {
        'mode': state['mode'],
        'applied_before_mxnet': state['applied'],
        'cpu': state['cpu'],
        'cpu_flags': simd,
        'isa_cap': cap,
        'isa_in_use': effective_isa(cap, state['flags']),
        'omp_threads': omp_threads(),
        'openblas_threads': env.get('OPENBLAS_NUM_THREADS'),
        'environment': env,
        'onednn': onednn,
        'openblas': openblas,
    }


# What decides whether two runs can be bit-identical, and what it means
# when they differ: compared first by `d2l-ncf compare`.
DECISIVE = ('mode', 'isa_in_use', 'omp_threads', 'openblas_threads',
            'onednn', 'applied_before_mxnet')


def differences(run, reference):
    """(field, run value, reference value) of `DECISIVE` fields that differ.

    A record without numerics (older than this module) compares as
    unknown on every field.
    """
    a, b = run or {}, reference or {}
    out = []
    for key in DECISIVE:
        if a.get(key) != b.get(key):
            out.append((key, a.get(key, 'unknown'), b.get(key, 'unknown')))
    env_a, env_b = a.get('environment') or {}, b.get('environment') or {}
    for key in sorted(set(env_a) | set(env_b)):
        if key in ('DNNL_MAX_CPU_ISA', 'OMP_NUM_THREADS',
                   'OPENBLAS_NUM_THREADS', 'OPENBLAS_CORETYPE'):
            continue  # reported above, or does not change the numbers
        if env_a.get(key) != env_b.get(key):
            out.append((key, env_a.get(key), env_b.get(key)))
    return out
