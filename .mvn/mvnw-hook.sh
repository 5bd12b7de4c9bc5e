# Sourced (POSIX sh) by ./mvnw before it starts Maven; see the marked block at the top of mvnw.
. "$(dirname -- "$0")/.mvn/jdk25.sh"
# Maven 3.9's own Guice calls sun.misc.Unsafe, which JDK 24+ reports in four WARNING lines on every build; the cause
# is in Maven, not in this project. The switch exists only from JDK 23, so it is added only for a JDK 25.
if [ -n "${JAVA_HOME-}" ] && grep -q '^JAVA_VERSION="25' "$JAVA_HOME/release" 2>/dev/null; then
  MAVEN_OPTS="${MAVEN_OPTS-} --sun-misc-unsafe-memory-access=allow"
  export MAVEN_OPTS
fi
