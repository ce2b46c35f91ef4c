using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;

namespace OspBridge.Testing.Netns;

/// <summary>
/// Proves that a test sent nothing on the machine's real interfaces. Start it (in the test's own, i.e. the
/// root, namespace) before the test traffic and call <see cref="AssertNoLeak"/> afterwards. It captures
/// outgoing frames on every non-loopback interface with an <c>AF_PACKET</c> socket and flags any IPv4/IPv6
/// packet that (a) is UDP from or to port 5353, (b) goes to the mDNS groups 224.0.0.251 / ff02::fb, or
/// (c) has a source or destination in the test subnets 10.213.0.0/16 or fd00:213::/32. Unrelated traffic
/// of other programs on the machine is ignored, so the check is not fooled by a busy host. It also
/// reports each interface's <c>/sys/class/net/*/statistics/tx_packets</c> delta for information.
/// </summary>
public sealed class ExternalTrafficGuard : IDisposable
{
    private const int MaxRecorded = 50;
    private readonly int _fd;
    private readonly Thread _thread;
    private readonly List<string> _leaks = [];
    private readonly Dictionary<string, long> _txBefore;
    private volatile bool _stop;
    private long _outgoingSeen;
    private int _leakCount;

    private ExternalTrafficGuard(int fd)
    {
        _fd = fd;
        _txBefore = ReadTxCounters();
        _thread = new Thread(Run) { IsBackground = true, Name = "external-traffic-guard" };
        _thread.Start();
    }

    /// <summary>Starts capturing. Needs root (raw packet socket).</summary>
    public static ExternalTrafficGuard Start()
    {
        int fd = LibC.socket(LibC.AF_PACKET, LibC.SOCK_RAW, LibC.Htons(LibC.ETH_P_ALL));
        if (fd < 0)
            throw new InvalidOperationException($"ExternalTrafficGuard needs root to open an AF_PACKET socket (errno {Marshal.GetLastPInvokeError()})");
        unsafe
        {
            var tv = new LibC.TimeVal { Sec = 0, USec = 100_000 };
            LibC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_RCVTIMEO, &tv, sizeof(LibC.TimeVal));
        }
        return new ExternalTrafficGuard(fd);
    }

    /// <summary>Number of outgoing frames seen on non-loopback interfaces (all traffic, for diagnostics).</summary>
    public long OutgoingFramesSeen => Interlocked.Read(ref _outgoingSeen);

    /// <summary>Stops capturing and throws <see cref="InvalidOperationException"/> describing the packets if any test traffic left the machine.</summary>
    public void AssertNoLeak()
    {
        Stop();
        if (_leakCount > 0)
        {
            string tx = string.Join(", ", TxDeltas().Select(kv => $"{kv.Key}+{kv.Value}"));
            throw new InvalidOperationException(
                $"{_leakCount} test packet(s) left on an external interface (tx deltas: {tx}):\n" + string.Join('\n', _leaks));
        }
    }

    /// <summary>Per non-loopback interface: tx_packets now minus at start (includes unrelated traffic of the machine).</summary>
    public IReadOnlyDictionary<string, long> TxDeltas()
    {
        var now = ReadTxCounters();
        return now.ToDictionary(kv => kv.Key, kv => kv.Value - _txBefore.GetValueOrDefault(kv.Key));
    }

    /// <summary>Stops capturing (idempotent).</summary>
    public void Dispose() => Stop();

    private void Stop()
    {
        if (_stop) return;
        _stop = true;
        _thread.Join(TimeSpan.FromSeconds(2));
        LibC.close(_fd);
    }

    private unsafe void Run()
    {
        var buf = new byte[65536];
        while (!_stop)
        {
            LibC.SockaddrLl from = default;
            int fromLen = sizeof(LibC.SockaddrLl);
            nint n;
            fixed (byte* p = buf) n = LibC.recvfrom(_fd, p, (nuint)buf.Length, 0, &from, &fromLen);
            if (n <= 0) continue; // timeout (EAGAIN) or EINTR: check _stop
            if (from.PktType != LibC.PACKET_OUTGOING) continue;
            if (from.HaType == 772 /* ARPHRD_LOOPBACK */) continue;
            Interlocked.Increment(ref _outgoingSeen);
            int offset = from.HaType == 1 /* ARPHRD_ETHER */ ? 14 : 0;
            ushort proto = LibC.Htons(from.Protocol);
            string? why = Classify(buf.AsSpan(offset, (int)n - offset), proto);
            if (why is null) continue;
            _leakCount++;
            if (_leaks.Count < MaxRecorded)
                _leaks.Add($"ifindex {from.IfIndex}: {why}");
        }
    }

    private static string? Classify(ReadOnlySpan<byte> pkt, ushort ethType)
    {
        if (ethType == 0x0800 && pkt.Length >= 20 && pkt[0] >> 4 == 4)
        {
            int ihl = (pkt[0] & 0xF) * 4;
            var src = new IPAddress(pkt.Slice(12, 4));
            var dst = new IPAddress(pkt.Slice(16, 4));
            int sport = -1, dport = -1;
            if (pkt[9] == 17 && pkt.Length >= ihl + 4)
            {
                sport = BinaryPrimitives.ReadUInt16BigEndian(pkt[ihl..]);
                dport = BinaryPrimitives.ReadUInt16BigEndian(pkt[(ihl + 2)..]);
            }
            bool bad = sport == 5353 || dport == 5353 || dst.Equals(IPAddress.Parse("224.0.0.251"))
                || (pkt[12] == 10 && pkt[13] == 213) || (pkt[16] == 10 && pkt[17] == 213);
            return bad ? Describe(src, dst, pkt[9], sport, dport) : null;
        }
        if (ethType == 0x86DD && pkt.Length >= 40 && pkt[0] >> 4 == 6)
        {
            var src = new IPAddress(pkt.Slice(8, 16));
            var dst = new IPAddress(pkt.Slice(24, 16));
            int sport = -1, dport = -1;
            if (pkt[6] == 17 && pkt.Length >= 44)
            {
                sport = BinaryPrimitives.ReadUInt16BigEndian(pkt[40..]);
                dport = BinaryPrimitives.ReadUInt16BigEndian(pkt[42..]);
            }
            static bool Ours(ReadOnlySpan<byte> a) => a[0] == 0xfd && a[1] == 0x00 && a[2] == 0x02 && a[3] == 0x13;
            bool bad = sport == 5353 || dport == 5353 || dst.Equals(IPAddress.Parse("ff02::fb"))
                || Ours(pkt.Slice(8, 16)) || Ours(pkt.Slice(24, 16));
            return bad ? Describe(src, dst, pkt[6], sport, dport) : null;
        }
        return null;
    }

    private static string Describe(IPAddress src, IPAddress dst, int proto, int sport, int dport)
        => string.Create(CultureInfo.InvariantCulture, $"proto {proto} {src}:{sport} -> {dst}:{dport}");

    private static Dictionary<string, long> ReadTxCounters()
    {
        var result = new Dictionary<string, long>();
        if (!Directory.Exists("/sys/class/net")) return result;
        foreach (string dir in Directory.GetDirectories("/sys/class/net"))
        {
            string name = Path.GetFileName(dir);
            if (name == "lo") continue;
            try
            {
                string text = File.ReadAllText(Path.Combine(dir, "statistics", "tx_packets")).Trim();
                if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v)) result[name] = v;
            }
            catch (IOException)
            {
            }
        }
        return result;
    }
}
