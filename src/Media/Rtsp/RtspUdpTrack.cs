using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Rtsp;

/// <summary>
/// One RTSP track received over UDP (RFC 2326 §12.39 <c>client_port</c>): an RTP socket on an even port and an RTCP
/// socket on the next one, both bound to the address the RTSP connection uses; packets are accepted only from the RTSP
/// server's address. The RTP goes through an <see cref="RtpReceiveStream"/> (RFC 3550 A.1 sequence validation, a
/// reorder ring, A.3/A.8 statistics, periodic receiver reports with LSR/DLSR from the camera's SRs; no NACK or REMB —
/// RTSP cameras speak RTP/AVP) and its in-order frames into the same <see cref="RtpTrackReceiver"/> as TCP.
/// Not thread-safe: the session serializes calls.
/// </summary>
internal sealed class RtspUdpTrack : IDisposable
{
    private const int MaxDatagram = 65536;
    private readonly byte[] _expectedAddress;
    private readonly AddressFamily _family;

    private RtspUdpTrack(Socket rtp, Socket rtcp, IPAddress server, RtspMediaDescription media, RandomNumberGenerator random)
    {
        RtpSocket = rtp;
        RtcpSocket = rtcp;
        RtpLocal = (IPEndPoint)rtp.LocalEndPoint!;
        RtcpLocal = (IPEndPoint)rtcp.LocalEndPoint!;
        ServerAddress = server;
        _expectedAddress = server.GetAddressBytes();
        _family = server.AddressFamily;
        Receiver = new RtpTrackReceiver(media.Codec!.Value, media.ClockRate, media.PayloadType, media.Sps, media.Pps);
        Stream = new RtpReceiveStream(new RtpReceiveStreamOptions
        {
            Random = random,
            Codec = media.Codec.Value,
            PayloadType = media.PayloadType is >= 0 and < 128 ? (byte)media.PayloadType : null,
            Nack = false,
            Remb = false,
            ReceiverReferenceTime = false,
            ReducedSizeFeedback = false, // RTP/AVP: every RTCP packet is a compound starting with RR
            CName = "ospbridge",
        });
    }

    public Socket RtpSocket { get; }

    public Socket RtcpSocket { get; }

    /// <summary>The RTP socket's bound endpoint (one instance: the receive loop tells the sockets apart by it).</summary>
    public IPEndPoint RtpLocal { get; }

    /// <summary>The RTCP socket's bound endpoint (one instance).</summary>
    public IPEndPoint RtcpLocal { get; }

    public IPAddress ServerAddress { get; }

    public int ClientRtpPort => RtpLocal.Port;

    /// <summary>The server's RTCP port (from <c>server_port</c> in the SETUP answer), or null when it did not say.</summary>
    public IPEndPoint? ServerRtcp { get; private set; }

    /// <summary>The server's RTP port (<c>server_port</c>), where a back channel's RTP goes; null when it did not say.</summary>
    public IPEndPoint? ServerRtp { get; private set; }

    public RtpReceiveStream Stream { get; }

    public RtpTrackReceiver Receiver { get; }

    /// <summary>This track's datagram counts (the source keeps the same for all its sessions).</summary>
    public RtspUdpCounters Counters { get; } = new();

    /// <summary>
    /// Sends an RTCP compound from the RTCP socket to the server's RTCP port; false when the server named none or the
    /// send failed (ICMP port unreachable from an earlier send, no route: RTCP is best effort).
    /// </summary>
    public bool TrySendRtcp(ReadOnlySpan<byte> packet)
    {
        if (ServerRtcp is not { } to)
            return false;
        try
        {
            RtcpSocket.SendTo(packet, SocketFlags.None, to);
            Counters.CountRtcpSent();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false; // the session ended while the loop still flushed
        }
    }

    /// <summary>
    /// Opens the socket pair on <paramref name="local"/>: the RTP port even, RTCP = RTP + 1 (RFC 3550 §11), at most 32
    /// attempts.
    /// </summary>
    public static RtspUdpTrack Open(IPAddress local, IPAddress server, RtspMediaDescription media, RandomNumberGenerator random)
    {
        for (int attempt = 0; attempt < 32; attempt++)
        {
            Socket? rtp = null, rtcp = null;
            try
            {
                rtp = NewSocket(local, 0);
                int port = ((IPEndPoint)rtp.LocalEndPoint!).Port;
                if (port % 2 == 1 || port == IPEndPoint.MaxPort)
                {
                    rtp.Dispose();
                    if (port == IPEndPoint.MaxPort)
                        continue;
                    rtp = NewSocket(local, port + 1);
                    port++;
                }
                rtcp = NewSocket(local, port + 1);
                return new RtspUdpTrack(rtp, rtcp, server, media, random);
            }
            catch (SocketException)
            {
                rtp?.Dispose();
                rtcp?.Dispose();
            }
        }
        throw new MediaException(MediaError.ConnectionLost, $"no free even/odd UDP port pair on {local} for RTSP over UDP");
    }

    private static Socket NewSocket(IPAddress local, int port)
    {
        var s = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            s.ReceiveBufferSize = 1 << 20; // a keyframe arrives as a burst of datagrams; the kernel caps this at rmem_max
            s.Bind(new IPEndPoint(local, port));
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>The <c>Transport</c> header of this track's SETUP.</summary>
    public string TransportHeader => string.Create(CultureInfo.InvariantCulture, $"RTP/AVP;unicast;client_port={ClientRtpPort}-{ClientRtpPort + 1}");

    /// <summary>Reads <c>server_port=a[-b]</c> from the SETUP answer's <c>Transport</c> header; false when the answer is not UDP.</summary>
    public bool Configure(string? transport)
    {
        if (transport is null)
            return true; // a terse server: media will still come, RTCP will not be sent
        if (transport.Contains("interleaved=", StringComparison.OrdinalIgnoreCase) || transport.Contains("/TCP", StringComparison.OrdinalIgnoreCase))
            return false;
        foreach (string part in transport.Split(';', StringSplitOptions.TrimEntries))
        {
            if (!part.StartsWith("server_port=", StringComparison.OrdinalIgnoreCase))
                continue;
            string[] ports = part["server_port=".Length..].Split('-');
            if (int.TryParse(ports[0], NumberStyles.None, CultureInfo.InvariantCulture, out int rtp) && rtp is > 0 and < IPEndPoint.MaxPort)
            {
                int rtcp = rtp + 1;
                if (ports.Length > 1 && int.TryParse(ports[1], NumberStyles.None, CultureInfo.InvariantCulture, out int r) && r is > 0 and <= IPEndPoint.MaxPort)
                    rtcp = r;
                ServerRtcp = new IPEndPoint(ServerAddress, rtcp);
                ServerRtp = new IPEndPoint(ServerAddress, rtp);
            }
        }
        return true;
    }

    /// <summary>True when <paramref name="from"/> (a received datagram's source) is the RTSP server's address.</summary>
    public bool IsFromServer(SocketAddress from)
    {
        if (from.Family != _family)
            return false;
        var bytes = from.Buffer.Span;
        return _family switch
        {
            AddressFamily.InterNetwork => from.Size >= 8 && bytes.Slice(4, 4).SequenceEqual(_expectedAddress),
            AddressFamily.InterNetworkV6 => from.Size >= 24 && bytes.Slice(8, 16).SequenceEqual(_expectedAddress),
            _ => false,
        };
    }

    public static int DatagramSize => MaxDatagram;

    public void Dispose()
    {
        RtpSocket.Dispose();
        RtcpSocket.Dispose();
    }
}

/// <summary>RTSP/UDP datagram counts; written by the receive tasks and the session's UDP loop, read by anyone.</summary>
internal sealed class RtspUdpCounters
{
    private long _rtpDatagrams;
    private long _foreignDatagrams;
    private long _rtcpSent;

    /// <summary>RTP datagrams accepted from the server.</summary>
    public long RtpDatagrams => Interlocked.Read(ref _rtpDatagrams);

    /// <summary>Datagrams from any other address (dropped).</summary>
    public long ForeignDatagrams => Interlocked.Read(ref _foreignDatagrams);

    /// <summary>RTCP compounds sent to the server (receiver reports, PLIs, the first empty RR).</summary>
    public long RtcpSent => Interlocked.Read(ref _rtcpSent);

    public void CountRtp() => Interlocked.Increment(ref _rtpDatagrams);

    public void CountForeign() => Interlocked.Increment(ref _foreignDatagrams);

    public void CountRtcpSent() => Interlocked.Increment(ref _rtcpSent);
}
