// Proves the jars of pom.xml are whole before a Spark session is given them: Iceberg's Spark
// catalog and its JDBC catalog are there (they load only with Spark's and Hadoop's classes, which
// pyspark brings), and SQLite's driver opens a database in memory. Prints the versions as JSON.
import java.sql.Connection;
import java.sql.DriverManager;

public final class IcebergProbe {
    public static void main(String[] args) throws Exception {
        for (String c : new String[] {"org/apache/iceberg/spark/SparkCatalog", "org/apache/iceberg/jdbc/JdbcCatalog"}) {
            if (IcebergProbe.class.getClassLoader().getResource(c + ".class") == null) {
                throw new IllegalStateException(c + " is not on the classpath");
            }
        }
        java.util.Properties build = new java.util.Properties();
        try (java.io.InputStream in = IcebergProbe.class.getClassLoader().getResourceAsStream("iceberg-build.properties")) {
            if (in != null) {
                build.load(in);
            }
        }
        String iceberg = build.getProperty("git.build.version", build.getProperty("version", "?"));
        String sqlite;
        try (Connection c = DriverManager.getConnection("jdbc:sqlite::memory:")) {
            sqlite = c.getMetaData().getDriverVersion();
        }
        System.out.println("{\"iceberg\": \"" + iceberg + "\", \"sqlite_jdbc\": \"" + sqlite + "\"}");
    }
}
