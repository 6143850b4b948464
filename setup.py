"""Build crembo's Cython extension modules, with OpenMP where the compiler has it.

Every ``crembo_ext/<name>.pyx`` becomes ``crembo._ext.<name>``. OpenMP is decided the way
scikit-learn and POT do it: compile, link and run a tiny ``omp_get_max_threads`` program; if that
fails, build serially and warn once (the ``prange`` loops then run on one thread).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
EXT_DIR = "crembo_ext"

OPENMP_TEST_PROGRAM = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d %d\\n", omp_get_max_threads(), n);
        return n > 0 ? 0 : 1;
    }
    """
)


def _openmp_flags(compiler):
    """Return (compile_args, link_args) for OpenMP, or None where it is unavailable."""
    if os.environ.get("CREMBO_DISABLE_OPENMP"):
        return None
    if sys.platform == "win32":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "test_openmp.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST_PROGRAM)
        for cflags, lflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                exe = os.path.join(tmp, "test_openmp")
                compiler.link_executable(objs, exe, extra_postargs=lflags)
                out = subprocess.run([exe], capture_output=True, text=True, check=True)
                if out.stdout.strip():
                    return cflags, lflags
            except Exception:  # any compile, link or run failure means "no OpenMP"
                continue
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExtWithOpenMP(build_ext):
    def build_extensions(self):
        flags = _openmp_flags(self.compiler)
        if flags is None:
            warnings.warn(
                "crembo: OpenMP was not found (or CREMBO_DISABLE_OPENMP is set); building the "
                "Cython kernels serially. Install a compiler with OpenMP support (e.g. gcc, or "
                "libomp on macOS) for multi-threaded kernels.",
                stacklevel=1,
            )
            cflags, lflags, macro = [], [], ("CREMBO_OPENMP", "0")
        else:
            cflags, lflags = flags
            macro = ("CREMBO_OPENMP", "1")
        opt = ["/O2"] if self.compiler.compiler_type == "msvc" else ["-O3"]
        for ext in self.extensions:
            ext.extra_compile_args = opt + cflags + ext.extra_compile_args
            ext.extra_link_args = lflags + ext.extra_link_args
            ext.define_macros.append(macro)
        super().build_extensions()


def extensions():
    exts = []
    # CREMBO_BUILD_ONLY=_votes,_depths rebuilds just those modules (handy while developing one).
    only = [m for m in os.environ.get("CREMBO_BUILD_ONLY", "").split(",") if m]
    # every module is rebuilt when a shared declaration or C header changes
    shared = [str(p.relative_to(HERE)) for pattern in ("*.pxd", "*.h") for p in sorted((HERE / EXT_DIR).glob(pattern))]
    for pyx in sorted((HERE / EXT_DIR).glob("*.pyx")):
        if only and pyx.stem not in only:
            continue
        exts.append(
            Extension(
                f"crembo._ext.{pyx.stem}",
                [f"{EXT_DIR}/{pyx.name}"],
                include_dirs=[np.get_include(), EXT_DIR],
                depends=shared,
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                language="c++" if "# distutils: language = c++" in pyx.read_text() else "c",
            )
        )
    return cythonize(
        exts,
        include_path=[EXT_DIR],
        compiler_directives={"language_level": "3"},
        annotate=bool(os.environ.get("CREMBO_ANNOTATE")),
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExtWithOpenMP})
