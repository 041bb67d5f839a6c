/*
 * omsync's throwaway HDFS: a MiniDFSCluster (one NameNode, N DataNodes) on 127.0.0.1, driven over
 * stdin/stdout by omsync_tui/sandbox/jvm/hdfs.py so tests can inject faults into a real HDFS.
 *
 * Usage: java -cp classes:<classpath> MiniHdfs --dir DIR [--port P] [--datanodes N]
 *
 * When the cluster serves, stdout gets exactly one line "READY hdfs://127.0.0.1:<port>". Then each
 * line read from stdin is one command and gets one line back, "OK ..." or "ERR <message>":
 *
 *   ping                              OK pong
 *   stop-namenode                     OK
 *   restart-namenode [nowait]         same port, same metadata; waits until the DataNodes that run
 *                                     have registered and safe mode is off, unless "nowait"
 *   stop-datanode I                   OK <ip:xfer-port>   (the NameNode notices via heartbeats)
 *   restart-datanode I                OK <ip:xfer-port>   (same ports; a running one is stopped
 *                                     first; waits for its block report if the NameNode is up)
 *   safemode enter|leave|get          OK ON|OFF
 *   mkdir PATH OWNER OCTAL            mkdir -p, then owner and mode of PATH (group unchanged)
 *   chmod PATH OCTAL
 *   chown PATH OWNER [GROUP]
 *   quota PATH NS|- SPACE|-           "-" leaves that quota as it is, -1 clears it
 *
 * The user running the JVM is the HDFS superuser (as the user who starts a NameNode is); commands
 * act as that user. EOF on stdin or SIGTERM shuts the cluster down and keeps its data, so a new
 * JVM on the same DIR starts from it (DIR.formatted marks a DIR that was formatted and served).
 * Everything except the protocol lines goes to stderr: the log.
 */

import java.io.BufferedReader;
import java.io.EOFException;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.SocketException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.SafeModeAction;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.protocol.HdfsConstants;
import org.apache.hadoop.hdfs.server.blockmanagement.DatanodeDescriptor;
import org.apache.hadoop.hdfs.server.blockmanagement.DatanodeManager;
import org.apache.hadoop.hdfs.server.datanode.DataNode;
import org.apache.hadoop.hdfs.server.namenode.NameNode;
import org.apache.log4j.ConsoleAppender;
import org.apache.log4j.Level;
import org.apache.log4j.Logger;
import org.apache.log4j.PatternLayout;
import sun.misc.Signal;
import sun.misc.SignalHandler;

public final class MiniHdfs {
    /** How long a command may wait for the cluster to settle (DataNodes registered, safe mode off). */
    private static final long SETTLE_TIMEOUT_MS = 60_000;

    private final MiniDFSCluster cluster;
    private final Configuration conf;
    /** The NameNode's URI, kept: MiniDFSCluster cannot say it while the NameNode is stopped. */
    private final URI uri;
    private DistributedFileSystem fs;
    private final String url;
    /** Logical DataNode index -> transfer address; MiniDFSCluster renumbers its list on stop/restart. */
    private final String[] dataNodeAddrs;
    private final Map<Integer, MiniDFSCluster.DataNodeProperties> stopped = new HashMap<>();
    private boolean nameNodeUp = true;
    private boolean shutDown = false;

    private MiniHdfs(MiniDFSCluster cluster, Configuration conf) throws IOException {
        this.cluster = cluster;
        this.conf = conf;
        this.uri = cluster.getURI();
        this.url = "hdfs://127.0.0.1:" + cluster.getNameNodePort();
        this.fs = newClient();
        List<DataNode> dns = cluster.getDataNodes();
        this.dataNodeAddrs = new String[dns.size()];
        for (int i = 0; i < dns.size(); i++) {
            dataNodeAddrs[i] = dns.get(i).getDatanodeId().getXferAddr();
        }
    }

    public static void main(String[] args) throws Exception {
        // The protocol owns the real stdout; anything Hadoop prints goes to the log instead.
        PrintStream protocol = new PrintStream(new FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
        System.setOut(System.err);
        configureLogging();

        File dir = null;
        int port = 0;
        int dataNodes = 1;
        int replication = 1;
        java.util.List<String[]> settings = new java.util.ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) {
                usage("missing value after " + a);
            }
            switch (a) {
                case "--dir": dir = new File(args[++i]).getAbsoluteFile(); break;
                case "--port": port = Integer.parseInt(args[++i]); break;
                case "--datanodes": dataNodes = Integer.parseInt(args[++i]); break;
                case "--replication": replication = Integer.parseInt(args[++i]); break;
                case "--set": {
                    String kv = args[++i];
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        usage("--set takes KEY=VALUE, not " + kv);
                    }
                    settings.add(new String[] {kv.substring(0, eq), kv.substring(eq + 1)});
                    break;
                }
                default: usage("unknown argument " + a);
            }
        }
        if (dir == null || dataNodes < 1 || replication < 1) {
            usage("--dir is required; --datanodes and --replication must be at least 1");
        }

        Configuration conf = configuration(dir);
        conf.setInt("dfs.replication", replication);
        for (String[] kv : settings) {
            conf.set(kv[0], kv[1]);
        }
        // Formatting wipes the metadata: only a directory that never reached READY is formatted.
        // The mark lives beside DIR, whose contents formatting replaces.
        File formatted = new File(dir.getParentFile(), dir.getName() + ".formatted");
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, dir)
                .nameNodePort(port)
                .nameNodeHttpPort(0)
                .numDataNodes(dataNodes)
                .format(!(formatted.exists() && dir.isDirectory()))
                .checkExitOnShutdown(false)
                .build();
        cluster.waitActive();
        formatted.createNewFile();

        MiniHdfs server = new MiniHdfs(cluster, conf);
        // A signal handler, not a shutdown hook: once the JVM is shutting down, DataNodes fail
        // to stop ("Shutdown in progress") and the NameNode is never stopped.
        SignalHandler stop = signal -> {
            System.err.println("MiniHdfs: SIG" + signal.getName() + ", shutting down");
            server.shutdown();
            System.exit(0);
        };
        Signal.handle(new Signal("TERM"), stop);
        Signal.handle(new Signal("INT"), stop);
        protocol.println("READY " + server.url);
        protocol.flush();

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            String answer;
            try {
                answer = "OK" + server.run(line.split("\\s+"));
            } catch (Exception e) {
                System.err.println("command failed: " + line);
                e.printStackTrace();
                answer = "ERR " + oneLine(e);
            }
            protocol.println(answer);
            protocol.flush();
        }
        // EOF: whoever drove us is gone or done.
        server.shutdown();
        System.exit(0);
    }

    private static Configuration configuration(File dir) {
        Configuration conf = new HdfsConfiguration();
        conf.set("hadoop.tmp.dir", new File(dir, "tmp").getPath());
        conf.setInt("dfs.replication", 1);
        conf.setBoolean("dfs.permissions.enabled", true);
        // Small blocks are allowed so tests can make multi-block files cheaply.
        conf.setLong("dfs.namenode.fs-limits.min-block-size", 1024);
        // Quick heartbeats: a restarted NameNode sees its DataNodes within a second, and a
        // stopped DataNode is declared dead after 2 * recheck + 10 * heartbeat = 12 s.
        conf.setLong("dfs.heartbeat.interval", 1);
        conf.setInt("dfs.namenode.heartbeat.recheck-interval", 1000);
        conf.setInt("dfs.namenode.safemode.extension", 0);
        conf.setInt("dfs.namenode.safemode.min.datanodes", 0);
        conf.setLong("dfs.blockreport.initialDelay", 0);
        // Our control client (and the DataNodes' NameNode client) give up on a stopped NameNode
        // in about a second instead of retrying for minutes.
        conf.setInt("ipc.client.connect.max.retries", 2);
        conf.setInt("ipc.client.connect.retry.interval", 100);
        conf.setInt("ipc.client.connect.max.retries.on.timeouts", 2);
        conf.setInt("ipc.client.connect.timeout", 2000);
        conf.setInt("dfs.client.block.write.locateFollowingBlock.retries", 2);
        // WebHDFS makes Jersey scan the 56 MB shaded jar: ~3 s of every NameNode start.
        conf.setBoolean("dfs.webhdfs.enabled", false);
        // Nothing but 127.0.0.1, and no web UI on a fixed port.
        conf.set("dfs.namenode.http-address", "127.0.0.1:0");
        conf.set("dfs.namenode.https-address", "127.0.0.1:0");
        conf.set("dfs.namenode.backup.address", "127.0.0.1:0");
        conf.set("dfs.namenode.backup.http-address", "127.0.0.1:0");
        conf.set("dfs.namenode.secondary.http-address", "127.0.0.1:0");
        conf.set("dfs.datanode.https.address", "127.0.0.1:0");
        return conf;
    }

    private static void configureLogging() {
        Logger root = Logger.getRootLogger();
        root.removeAllAppenders();
        root.addAppender(new ConsoleAppender(
                new PatternLayout("%d{yyyy-MM-dd HH:mm:ss.SSS} %-5p %c{1} [%t]: %m%n"), ConsoleAppender.SYSTEM_ERR));
        root.setLevel(Level.INFO);
        // Per-block and per-packet chatter would drown the events a failed test needs.
        for (String name : new String[] {
                "BlockStateChange", "org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace",
                "org.apache.hadoop.metrics2", "org.apache.hadoop.hdfs.server.blockmanagement.BlockPlacementPolicy",
                "org.apache.hadoop.http", "org.eclipse.jetty", "org.apache.hadoop.hdfs.server.common.Util",
                "org.apache.hadoop.hdfs.server.datanode.fsdataset.impl.FsDatasetImpl"}) {
            Logger.getLogger(name).setLevel(Level.WARN);
        }
    }

    private static void usage(String problem) {
        System.err.println("MiniHdfs: " + problem);
        System.err.println("usage: MiniHdfs --dir DIR [--port P] [--datanodes N] [--replication R] [--set KEY=VALUE]...");
        System.exit(2);
    }

    private static String oneLine(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            message = e.getClass().getSimpleName();
        }
        // RemoteException messages carry the server's stack trace on the following lines.
        return message.strip().split("\\R", 2)[0];
    }

    // -- commands -------------------------------------------------------------------------------

    /** Runs one command; returns what follows "OK" (empty or " <detail>"). */
    private synchronized String run(String[] w) throws Exception {
        switch (w[0]) {
            case "ping":
                arity(w, 1, 1);
                return " pong";
            case "stop-namenode":
                arity(w, 1, 1);
                cluster.shutdownNameNode(0);
                nameNodeUp = false;
                return "";
            case "restart-namenode":
                arity(w, 1, 2);
                boolean wait = w.length == 1;
                if (!wait && !w[1].equals("nowait")) {
                    throw new IllegalArgumentException("restart-namenode takes nothing or 'nowait'");
                }
                cluster.restartNameNode(0, false);
                nameNodeUp = true;
                if (wait) {
                    settle(true);
                }
                return "";
            case "stop-datanode": {
                arity(w, 2, 2);
                int i = dataNodeIndex(w[1]);
                if (stopped.containsKey(i)) {
                    throw new IllegalStateException("datanode " + i + " is already stopped");
                }
                stopped.put(i, cluster.stopDataNode(dataNodeAddrs[i]));
                return " " + dataNodeAddrs[i];
            }
            case "restart-datanode": {
                arity(w, 2, 2);
                int i = dataNodeIndex(w[1]);
                MiniDFSCluster.DataNodeProperties props = stopped.remove(i);
                if (props == null) {
                    props = cluster.stopDataNode(dataNodeAddrs[i]);
                    if (props == null) {
                        throw new IllegalStateException(
                                "datanode " + i + " (" + dataNodeAddrs[i] + ") is not in the cluster");
                    }
                }
                cluster.restartDataNode(props, true);
                if (nameNodeUp) {
                    settle(false);
                }
                return " " + dataNodeAddrs[i];
            }
            case "safemode": {
                arity(w, 2, 2);
                SafeModeAction action;
                switch (w[1]) {
                    case "enter": action = SafeModeAction.ENTER; break;
                    case "leave": action = SafeModeAction.LEAVE; break;
                    case "get": action = SafeModeAction.GET; break;
                    default: throw new IllegalArgumentException("safemode takes enter, leave or get");
                }
                // setSafeMode answers whether safe mode is on after the action.
                return withClient(c -> c.setSafeMode(action)) ? " ON" : " OFF";
            }
            case "mkdir": {
                arity(w, 4, 4);
                Path p = new Path(w[1]);
                FsPermission perm = permission(w[3]);
                withClient(c -> {
                    c.mkdirs(p, perm);
                    // mkdirs applies the umask; the mode asked for is set explicitly.
                    c.setPermission(p, perm);
                    c.setOwner(p, w[2], null);
                    return null;
                });
                return "";
            }
            case "chmod":
                arity(w, 3, 3);
                withClient(c -> {
                    c.setPermission(new Path(w[1]), permission(w[2]));
                    return null;
                });
                return "";
            case "chown":
                arity(w, 3, 4);
                withClient(c -> {
                    c.setOwner(new Path(w[1]), w[2], w.length > 3 ? w[3] : null);
                    return null;
                });
                return "";
            case "quota":
                arity(w, 4, 4);
                withClient(c -> {
                    c.setQuota(new Path(w[1]), quota(w[2]), quota(w[3]));
                    return null;
                });
                return "";
            default:
                throw new IllegalArgumentException("unknown command " + w[0]);
        }
    }

    /** A client of our own (not the cluster's cached one) with the short retries of conf. */
    private DistributedFileSystem newClient() throws IOException {
        return (DistributedFileSystem) FileSystem.newInstance(uri, conf);
    }

    private interface ClientCall<T> {
        T call(DistributedFileSystem client) throws IOException;
    }

    /**
     * Runs an idempotent call with our client, once more on a new client if the connection broke:
     * an idle IPC connection to a NameNode that has since restarted fails its next call with EOF.
     */
    private <T> T withClient(ClientCall<T> op) throws IOException {
        try {
            return op.call(fs);
        } catch (EOFException | SocketException e) {
            System.err.println("control client: " + e + "; retrying with a new connection");
            fs.close();
            fs = newClient();
            return op.call(fs);
        }
    }

    private static void arity(String[] w, int min, int max) {
        if (w.length < min || w.length > max) {
            throw new IllegalArgumentException(
                    w[0] + " takes " + (min - 1) + (max > min ? " to " + (max - 1) : "") + " arguments");
        }
    }

    private int dataNodeIndex(String s) {
        int i = Integer.parseInt(s);
        if (i < 0 || i >= dataNodeAddrs.length) {
            throw new IllegalArgumentException("no datanode " + i + " (there are " + dataNodeAddrs.length + ")");
        }
        return i;
    }

    private static FsPermission permission(String octal) {
        return new FsPermission((short) Integer.parseInt(octal, 8));
    }

    private static long quota(String s) {
        return s.equals("-") ? HdfsConstants.QUOTA_DONT_SET : Long.parseLong(s);
    }

    /**
     * Waits until every running DataNode is registered with the NameNode and its block report was
     * processed, and (if asked) safe mode is off: then a client's next call sees the whole cluster.
     */
    private void settle(boolean safeModeOff) throws Exception {
        long deadline = System.currentTimeMillis() + SETTLE_TIMEOUT_MS;
        while (!settled(safeModeOff)) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("the cluster did not settle within "
                        + SETTLE_TIMEOUT_MS / 1000 + " s (datanodes registered and reported"
                        + (safeModeOff ? ", safe mode off" : "") + ")");
            }
            Thread.sleep(50);
        }
    }

    private boolean settled(boolean safeModeOff) {
        NameNode nn = cluster.getNameNode(0);
        if (nn == null || (safeModeOff && nn.isInSafeMode())) {
            return false;
        }
        DatanodeManager manager = nn.getNamesystem().getBlockManager().getDatanodeManager();
        for (DataNode dn : cluster.getDataNodes()) {
            // The DataNode side first: a re-registration resets the NameNode's record of its
            // reports, so a record read before it could still describe the previous run.
            if (!dn.isDatanodeFullyStarted(true)) {
                return false;
            }
            DatanodeDescriptor d = manager.getDatanode(dn.getDatanodeUuid());
            if (d == null || !d.isAlive() || !d.checkBlockReportReceived()) {
                return false;
            }
        }
        return true;
    }

    private synchronized void shutdown() {
        if (shutDown) {
            return;
        }
        shutDown = true;
        try {
            fs.close();
        } catch (IOException e) {
            System.err.println("closing the control client: " + e);
        }
        // Not cluster.shutdown(): that deletes the storage directory when the JVM exits.
        cluster.shutdownDataNodes();
        cluster.shutdownNameNodes();
    }
}
