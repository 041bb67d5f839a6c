// omsync's own probe of a cluster through OpenMLDB's released Java SDK (SqlClusterExecutor, the
// client OpenMLDB's SyncTool builds): connect through ZooKeeper, list databases, tables with their
// schemas and TableInfo, and the rows of `show table status`; print one JSON document on stdout.
// Usage: java SdkList <zk_cluster> <zk_path>. Exit 2 when the SDK cannot connect (reason on stderr).

import com._4paradigm.openmldb.proto.NS;
import com._4paradigm.openmldb.sdk.Column;
import com._4paradigm.openmldb.sdk.SdkOption;
import com._4paradigm.openmldb.sdk.SqlException;
import com._4paradigm.openmldb.sdk.impl.SqlClusterExecutor;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class SdkList {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: SdkList <zk_cluster> <zk_path>");
            System.exit(64);
        }
        SdkOption option = new SdkOption();
        option.setZkCluster(args[0]);
        option.setZkPath(args[1]);
        option.setSessionTimeout(10000);
        option.setRequestTimeout(10000);
        // The SyncTool's own login (synctool.properties user/password defaults).
        option.setUser("root");
        option.setPassword("");
        SqlClusterExecutor router;
        try {
            router = new SqlClusterExecutor(option);
        } catch (SqlException e) {
            System.err.println("SDK init failed: " + e + (e.getCause() != null ? " (" + e.getCause() + ")" : ""));
            System.exit(2);
            return;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        List<String> databases = router.showDatabases();
        out.put("databases", databases);
        List<Map<String, Object>> tables = new ArrayList<>();
        for (String db : databases) {
            for (String name : router.getTableNames(db)) {
                Map<String, Object> table = new LinkedHashMap<>();
                NS.TableInfo info = router.getTableInfo(db, name);
                table.put("db", db);
                table.put("name", name);
                table.put("tid", info.getTid());
                table.put("storage_mode", info.getStorageMode().name());
                table.put("partition_num", info.getTablePartitionCount());
                List<Map<String, Object>> columns = new ArrayList<>();
                for (Column c : router.getTableSchema(db, name).getColumnList()) {
                    Map<String, Object> column = new LinkedHashMap<>();
                    column.put("name", c.getColumnName());
                    column.put("sql_type", c.getSqlType());
                    column.put("not_null", c.isNotNull());
                    columns.add(column);
                }
                table.put("columns", columns);
                // getTableSchema gives column_desc only; ALTER TABLE ADD COLUMN's are here
                List<String> added = new ArrayList<>();
                for (com._4paradigm.openmldb.proto.Common.ColumnDesc c : info.getAddedColumnDescList()) {
                    added.add(c.getName());
                }
                table.put("added_columns", added);
                tables.add(table);
            }
        }
        out.put("tables", tables);
        out.put("table_status", query(router, "show table status"));
        out.put("components", query(router, "show components"));
        router.close();
        Gson gson = new GsonBuilder().serializeNulls().create();
        System.out.println(gson.toJson(out));
        System.out.flush();
        // The JNI side keeps non-daemon threads (brpc, ZooKeeper): leave explicitly.
        System.exit(0);
    }

    private static List<Map<String, String>> query(SqlClusterExecutor router, String sql) throws Exception {
        List<Map<String, String>> rows = new ArrayList<>();
        Statement statement = router.getStatement();
        if (!statement.execute(sql)) {
            return rows;
        }
        ResultSet rs = statement.getResultSet();
        ResultSetMetaData meta = rs.getMetaData();
        while (rs.next()) {
            Map<String, String> row = new LinkedHashMap<>();
            for (int i = 1; i <= meta.getColumnCount(); i++) {
                row.put(meta.getColumnName(i), text(rs, i, meta.getColumnType(i)));
            }
            rows.add(row);
        }
        statement.close();
        return rows;
    }

    // The SDK's result sets have neither getObject nor wasNull: read each value with its type's getter.
    private static String text(ResultSet rs, int i, int type) throws Exception {
        Object value;
        switch (type) {
            case Types.BIGINT: value = rs.getLong(i); break;
            case Types.INTEGER: value = rs.getInt(i); break;
            case Types.SMALLINT: value = rs.getShort(i); break;
            case Types.BOOLEAN: value = rs.getBoolean(i); break;
            case Types.FLOAT: value = rs.getFloat(i); break;
            case Types.DOUBLE: value = rs.getDouble(i); break;
            case Types.TIMESTAMP: value = rs.getTimestamp(i); break;
            case Types.DATE: value = rs.getDate(i); break;
            default: value = rs.getString(i);
        }
        return value == null ? null : value.toString();
    }
}
