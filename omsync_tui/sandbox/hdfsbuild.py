"""Building omsync's MiniDFSCluster main (``minihdfs/MiniHdfs.java``) once per version of it.

Maven resolves the jars of ``minihdfs/pom.xml`` (``org.apache.hadoop:hadoop-client-minicluster``
and a log binding; Maven's ``~/.m2`` keeps them) and writes the classpath; javac compiles the main
beside it. The result lives in ``<user cache>/omsync/minihdfs/<hash>/`` (``$OMSYNC_MINIHDFS_CACHE``
moves it), the hash taken over the sources, so an edited main is rebuilt; concurrent builds (two
test processes) wait on a lock file. ``omsync_tui.sandbox.hdfs`` runs the result with plain
``java``. The MiniDFSCluster jar is run unpacked (see ``EXPLODED_JARS``).
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


def source_hash() -> str:
    """The cache key: a hash over the names and bytes of ``pom.xml`` and ``MiniHdfs.java``."""
    digest = hashlib.sha256(f"layout {_LAYOUT}\0".encode())
    for name in SOURCES:
        try:
            data = (SOURCE_DIR / name).read_bytes()
        except FileNotFoundError:
            raise ClusterError(
                f"{SOURCE_DIR / name} is missing: this omsync was packaged without its MiniHdfs sources",
                hint="reinstall omsync (pyproject's package-data ships minihdfs/*.xml and *.java)",
            ) from None
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Where builds live: ``$OMSYNC_MINIHDFS_CACHE``, else ``<user cache dir>/omsync/minihdfs``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    from platformdirs import user_cache_path

    return user_cache_path("omsync", appauthor=False) / "minihdfs"


def prepare(*, cache: str | os.PathLike[str] | None = None) -> MiniHdfsBuild:
    """Build ``MiniHdfs`` unless this version of it is built already; return the build.

    The first build downloads the Hadoop jars (~110 MB) into Maven's ``~/.m2``; later ones, and
    calls after a build, return at once. ClusterError names what is missing (``java``, ``javac``,
    ``mvn``) or says that Maven could not reach its repository.
    """
    root = Path(cache).resolve() if cache is not None else cache_root()
    key = source_hash()
    build = MiniHdfsBuild(root / key)
    if build.is_complete():
        return build
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{key}.lock"):
        # Another process may have built it while this one waited for the lock.
        if build.is_complete():
            return build
        _build(build.directory)
    return build


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _build(target: Path) -> None:
    mvn = shutil.which("mvn")
    javac = jdk_tool("javac")
    missing = [name for name, path in (("mvn", mvn), ("javac", javac)) if path is None]
    if jdk_tool("java") is None:
        missing.insert(0, "java")
    if missing or mvn is None or javac is None:
        raise ClusterError(
            f"cannot build the MiniDFSCluster main: no {', '.join(missing)} on PATH (or JAVA_HOME)",
            hint=INSTALL_HINT,
        )
    # Built aside and renamed into place: a half-built directory never looks complete.
    work = target.with_name(target.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in SOURCES:
        shutil.copyfile(SOURCE_DIR / name, work / name)
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
                "Maven could not download the Hadoop jars for the MiniDFSCluster (is this machine "
                f"offline, or is Maven Central unreachable?):\n{output}",
                hint="connect to Maven Central (or a mirror in ~/.m2/settings.xml), then run: "
                "python -m omsync_tui.sandbox.hdfs prepare",
            )
        raise ClusterError(
            f"mvn dependency:build-classpath failed with code {maven.returncode}:\n{output}",
            hint=f"the pom is {SOURCE_DIR / 'pom.xml'}",
        )
    classpath = classpath_file.read_text(encoding="utf-8").strip()
    compiled = _run(
        [
            javac,
            "-nowarn",
            "-encoding",
            "UTF-8",
            "-cp",
            classpath,
            "-d",
            str(work / "classes"),
            str(work / "MiniHdfs.java"),
        ],
        cwd=work,
        timeout=600,
    )
    if compiled.returncode != 0:
        raise ClusterError(
            f"javac failed on MiniHdfs.java with code {compiled.returncode}:\n{_tail(compiled.stdout)}",
            hint="Java 17 or later is needed: " + INSTALL_HINT,
        )
    runtime = [
        _exploded(jar, target.parent / "exploded") if jar.name.startswith(EXPLODED_JARS) else jar
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
    with _locked(root / f"{jar.name}.lock"):
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
            f"{Path(command[0]).name} did not finish within {timeout:g} s while building MiniHdfs",
            hint="a very slow download? run: python -m omsync_tui.sandbox.hdfs prepare",
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
