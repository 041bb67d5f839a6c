"""Building omsync's MiniDFSCluster main (``minihdfs/MiniHdfs.java``) once per version of it.

Maven resolves the jars of ``minihdfs/pom.xml`` (``org.apache.hadoop:hadoop-client-minicluster``
and a log binding; Maven's ``~/.m2`` keeps them) and writes the classpath; javac compiles the main
beside it. The result lives in ``<user cache>/omsync/minihdfs/<hash>/`` (``$OMSYNC_MINIHDFS_CACHE``
moves it), the hash taken over the sources, so an edited main is rebuilt; concurrent builds (two
test processes) wait on a lock file. ``omsync_tui.sandbox.jvm.hdfs`` runs the result with plain
``java``. The MiniDFSCluster jar is run unpacked (see ``EXPLODED_JARS``).

The same build serves other small Java mains of omsync's (``JavaProgram``; ``build_program``):
``openmldbsdk`` builds one against OpenMLDB's released SDK this way.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from omsync_tui.core.errors import ClusterError

SOURCE_DIR = Path(__file__).resolve().with_name("minihdfs")
SOURCES = ("pom.xml", "MiniHdfs.java")
MAIN_CLASS = "MiniHdfs"
CACHE_ENV = "OMSYNC_MINIHDFS_CACHE"
INSTALL_HINT = "apt-get install -y openjdk-17-jdk-headless maven"
# What Maven prints when it cannot reach a repository (offline, no DNS, proxy, offline mode).
_OFFLINE_MARKERS = re.compile(
    r"Could not transfer|Could not resolve|UnknownHost|Unknown host|Network is unreachable|"
    r"Connection refused|Connect timed out|timed out|in offline mode|No route to host",
    re.IGNORECASE,
)
_STAMP = "built"
_LAYOUT = 2  # part of the cache key: bump it when what a build directory holds changes
RUNTIME_CLASSPATH = "runtime-classpath.txt"
# The NameNode's web server has Jersey scan packages of this jar, which reads all 56 MB of it
# through a JarInputStream on every NameNode start (~3 s, more on a busy machine); from a
# directory it reads one package's files.
EXPLODED_JARS = ("hadoop-client-minicluster-",)
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAVEN_BOILERPLATE = re.compile(
    r"^\[ERROR\]\s*$|[Rr]e-run Maven|For more information about the errors|\[Help 1\] http"
)


@dataclass(frozen=True)
class JavaProgram:
    """A small Java main of omsync's: a ``pom.xml`` for its jars and its source, built once."""

    main_class: str
    """The class ``java`` runs; its source is ``<main_class>.java`` beside the pom."""
    source_dir: Path
    """Where ``pom.xml`` and the source live (package data)."""
    cache_env: str
    """The environment variable that moves its cache."""
    cache_name: str
    """Its directory under ``<user cache>/omsync/``."""
    purpose: str
    """What it is, for error messages: ``"the MiniDFSCluster"``."""
    jars: str
    """What Maven downloads for it, for error messages: ``"the Hadoop jars"``."""
    prepare_command: str
    """The command that builds it, for hints."""
    exploded: tuple[str, ...] = ()
    """Jar name prefixes run unpacked."""

    @property
    def sources(self) -> tuple[str, ...]:
        return ("pom.xml", f"{self.main_class}.java")


@dataclass(frozen=True)
class MiniHdfsBuild:
    """A compiled ``MiniHdfs`` and the jars it runs with: what ``java -cp`` needs."""

    directory: Path
    """``<cache>/<hash>``: ``classes/``, ``classpath.txt`` (Maven's), the sources it was built from."""

    @property
    def classes_dir(self) -> Path:
        return self.directory / "classes"

    @property
    def jars(self) -> tuple[Path, ...]:
        """What ``java`` runs with besides ``classes/``: Maven's jars, the exploded ones as directories."""
        text = (self.directory / RUNTIME_CLASSPATH).read_text(encoding="utf-8").strip()
        return tuple(Path(p) for p in text.split(os.pathsep) if p)

    @property
    def classpath(self) -> str:
        return os.pathsep.join([str(self.classes_dir), *map(str, self.jars)])

    def is_complete(self) -> bool:
        """Built, and every jar still in Maven's cache (someone may have cleaned ``~/.m2``)."""
        try:
            if not (self.directory / _STAMP).is_file():
                return False
            return all(jar.is_file() or (jar / _STAMP).is_file() for jar in self.jars)
        except OSError:
            return False


JavaBuild = MiniHdfsBuild
"""A built ``JavaProgram``: its classes and the jars it runs with."""

MINIHDFS = JavaProgram(
    main_class=MAIN_CLASS,
    source_dir=SOURCE_DIR,
    cache_env=CACHE_ENV,
    cache_name="minihdfs",
    purpose="the MiniDFSCluster",
    jars="the Hadoop jars",
    prepare_command="python -m omsync_tui.sandbox.jvm.hdfs prepare",
    exploded=EXPLODED_JARS,
)


def source_hash(program: JavaProgram = MINIHDFS) -> str:
    """The cache key: a hash over the names and bytes of the program's pom and source."""
    digest = hashlib.sha256(f"layout {_LAYOUT}\0".encode())
    for name in program.sources:
        try:
            data = (program.source_dir / name).read_bytes()
        except FileNotFoundError:
            raise ClusterError(
                f"{program.source_dir / name} is missing: this omsync was packaged without the "
                f"sources of {program.main_class}",
                hint="reinstall omsync (pyproject's package-data ships the sandbox's *.xml and *.java)",
            ) from None
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()[:16]


def cache_root(program: JavaProgram = MINIHDFS) -> Path:
    """Where builds live: ``$<cache_env>``, else ``<user cache dir>/omsync/<cache_name>``."""
    configured = os.environ.get(program.cache_env)
    if configured:
        return Path(configured).expanduser().resolve()
    from platformdirs import user_cache_path

    return user_cache_path("omsync", appauthor=False) / program.cache_name


def prepare(*, cache: str | os.PathLike[str] | None = None) -> MiniHdfsBuild:
    """Build ``MiniHdfs`` unless this version of it is built already; return the build.

    The first build downloads the Hadoop jars (~110 MB) into Maven's ``~/.m2``; later ones, and
    calls after a build, return at once. ClusterError names what is missing (``java``, ``javac``,
    ``mvn``) or says that Maven could not reach its repository.
    """
    return build_program(MINIHDFS, cache=cache)


def build_program(program: JavaProgram, *, cache: str | os.PathLike[str] | None = None) -> JavaBuild:
    """Build ``program`` unless this version of it is built already (see ``prepare``)."""
    root = Path(cache).resolve() if cache is not None else cache_root(program)
    key = source_hash(program)
    build = MiniHdfsBuild(root / key)
    if build.is_complete():
        return build
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / f"{key}.lock"):
        # Another process may have built it while this one waited for the lock.
        if build.is_complete():
            return build
        _build(program, build.directory)
    return build


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (made if missing) while the block runs: one process builds or
    installs into a cache directory at a time."""
    with path.open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _build(program: JavaProgram, target: Path) -> None:
    mvn = shutil.which("mvn")
    javac = jdk_tool("javac")
    missing = [name for name, path in (("mvn", mvn), ("javac", javac)) if path is None]
    if jdk_tool("java") is None:
        missing.insert(0, "java")
    if missing or mvn is None or javac is None:
        raise ClusterError(
            f"cannot build {program.purpose} main: no {', '.join(missing)} on PATH (or JAVA_HOME)",
            hint=INSTALL_HINT,
        )
    # Built aside and renamed into place: a half-built directory never looks complete.
    work = target.with_name(target.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in program.sources:
        shutil.copyfile(program.source_dir / name, work / name)
    classpath_file = work / "classpath.txt"
    maven = _run(
        [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(work / "pom.xml"),
            # The full coordinates: resolving the "dependency:" prefix needs the network already,
            # and its failure would not say so.
            DEPENDENCY_PLUGIN + ":build-classpath",
            f"-Dmdep.outputFile={classpath_file}",
        ],
        cwd=work,
        timeout=1800,
    )
    if maven.returncode != 0 or not classpath_file.is_file():
        output = _tail(maven.stdout)
        if _OFFLINE_MARKERS.search(maven.stdout):
            raise ClusterError(
                f"Maven could not download {program.jars} for {program.purpose} (is this machine "
                f"offline, or is Maven Central unreachable?):\n{output}",
                hint="connect to Maven Central (or a mirror in ~/.m2/settings.xml), then run: "
                + program.prepare_command,
            )
        raise ClusterError(
            f"mvn dependency:build-classpath failed with code {maven.returncode}:\n{output}",
            hint=f"the pom is {program.source_dir / 'pom.xml'}",
        )
    classpath = classpath_file.read_text(encoding="utf-8").strip()
    compiled = _run(
        [
            javac,
            "-nowarn",
            "-encoding",
            "UTF-8",
            # Compile the one file against the jars' classes only: some jars carry annotation
            # processors (lombok) or their own .java sources, which javac would otherwise use.
            "-proc:none",
            "-implicit:none",
            "-sourcepath",
            "",
            "-cp",
            classpath,
            "-d",
            str(work / "classes"),
            str(work / f"{program.main_class}.java"),
        ],
        cwd=work,
        timeout=600,
    )
    if compiled.returncode != 0:
        raise ClusterError(
            f"javac failed on {program.main_class}.java with code {compiled.returncode}:\n"
            + _tail(compiled.stdout),
            hint="Java 17 or later is needed: " + INSTALL_HINT,
        )
    runtime = [
        _exploded(jar, target.parent / "exploded")
        if program.exploded and jar.name.startswith(program.exploded)
        else jar
        for jar in map(Path, classpath.split(os.pathsep))
    ]
    (work / RUNTIME_CLASSPATH).write_text(os.pathsep.join(map(str, runtime)) + "\n", encoding="utf-8")
    _stamp(work)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(work, target)


def _exploded(jar: Path, root: Path) -> Path:
    """``jar`` unpacked into ``<root>/<jar name>/``, shared by the builds of all source versions."""
    target = root / jar.name
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / f"{jar.name}.lock"):
        if (target / _STAMP).is_file():
            return target
        work = root / f"{jar.name}.tmp"
        shutil.rmtree(work, ignore_errors=True)
        with zipfile.ZipFile(jar) as archive:
            archive.extractall(work)
        _stamp(work)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(work, target)
    return target


def _stamp(directory: Path) -> None:
    (directory / _STAMP).write_text(f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n", encoding="ascii")


def _run(command: Sequence[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(
            f"{Path(command[0]).name} did not finish within {timeout:g} s while building a Java main "
            "of the sandbox",
            hint="a very slow download? run the same command again (Maven keeps what it fetched)",
        ) from None


def _tail(text: str, lines: int = 20) -> str:
    # Maven colours its output even in batch mode, and ends every error with the same advice.
    kept = [ln for ln in _ANSI.sub("", text).strip().splitlines() if not _MAVEN_BOILERPLATE.search(ln)]
    return "\n".join(kept[-lines:])


def jdk_tool(name: str) -> str | None:
    """``$JAVA_HOME/bin/<name>`` if there is one, else ``<name>`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home, "bin", name)
        if candidate.is_file():
            return str(candidate)
    return shutil.which(name)
