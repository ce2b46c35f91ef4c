using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using OspBridge.Media.Rtsp;

namespace OspBridge.Media.Tests.BackChannel;

/// <summary>
/// A scripted ONVIF-style RTSP camera on 127.0.0.1 for one client connection: answers OPTIONS/DESCRIBE/SETUP/PLAY/
/// GET_PARAMETER/TEARDOWN, records every request (method + Require header), and collects the interleaved frames the
/// client sends (channel + payload). <see cref="RefuseRequire"/> answers a DESCRIBE that carries Require with 551.
/// </summary>
internal sealed class ScriptedOnvifCamera : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _cts = new(TimeSpan.FromSeconds(90));
    private readonly Task _serve;
    private readonly Lock _gate = new();
    private readonly List<(string Method, string Uri, string? Require, string? Transport)> _requests = [];
    private readonly List<(byte Channel, byte[] Payload)> _frames = [];

    public ScriptedOnvifCamera(string sdp, bool refuseRequire = false)
    {
        Sdp = sdp;
        RefuseRequire = refuseRequire;
        _listener.Start();
        _serve = Task.Run(ServeAsync);
    }

    public string Sdp { get; }

    public bool RefuseRequire { get; }

    public string Url => string.Create(CultureInfo.InvariantCulture, $"rtsp://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/cam");

    public List<(string Method, string Uri, string? Require, string? Transport)> Requests
    {
        get { lock (_gate) return [.. _requests]; }
    }

    public List<(byte Channel, byte[] Payload)> Frames
    {
        get { lock (_gate) return [.. _frames]; }
    }

    private async Task ServeAsync()
    {
        try
        {
            using var client = await _listener.AcceptTcpClientAsync(_cts.Token);
            var stream = client.GetStream();
            var buffer = new byte[1 << 16];
            int length = 0;
            while (true)
            {
                int n = await stream.ReadAsync(buffer.AsMemory(length), _cts.Token);
                if (n == 0)
                    return;
                length += n;
                int at = 0;
                while (at < length)
                {
                    var data = buffer.AsSpan(at, length - at);
                    if (data[0] == RtspInterleavedFrame.Marker)
                    {
                        if (RtspInterleavedFrame.TryRead(data, out byte ch, out var payload, out int used) != RtspReadStatus.Complete)
                            break;
                        lock (_gate) _frames.Add((ch, payload.ToArray()));
                        at += used;
                        continue;
                    }
                    var status = RtspRequest.TryRead(data, out var request, out int consumed);
                    if (status == RtspReadStatus.NeedMoreData)
                        break;
                    Assert.Equal(RtspReadStatus.Complete, status);
                    at += consumed;
                    string? require = request!.Headers.Get("Require");
                    string? transport = request.Headers.Get("Transport");
                    lock (_gate) _requests.Add((request.Method, request.Uri, require, transport));
                    byte[] answer = Answer(request, require, transport);
                    await stream.WriteAsync(answer, _cts.Token);
                }
                buffer.AsSpan(at, length - at).CopyTo(buffer);
                length -= at;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
        {
        }
    }

    private byte[] Answer(RtspRequest request, string? require, string? transport)
    {
        string cseq = request.Headers.Get("CSeq") ?? "0";
        var head = new StringBuilder();
        string body = "";
        switch (request.Method)
        {
            case "OPTIONS":
                head.Append("RTSP/1.0 200 OK\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n");
                break;
            case "DESCRIBE" when require is not null && RefuseRequire:
                head.Append(CultureInfo.InvariantCulture, $"RTSP/1.0 551 Option not supported\r\nUnsupported: {require}\r\n");
                break;
            case "DESCRIBE":
                body = Sdp;
                head.Append(CultureInfo.InvariantCulture, $"RTSP/1.0 200 OK\r\nContent-Type: application/sdp\r\nContent-Base: {Url}/\r\n");
                break;
            case "SETUP":
                head.Append(CultureInfo.InvariantCulture, $"RTSP/1.0 200 OK\r\nSession: 4242;timeout=60\r\nTransport: {transport}\r\n");
                break;
            default:
                head.Append("RTSP/1.0 200 OK\r\nSession: 4242\r\n");
                break;
        }
        head.Append(CultureInfo.InvariantCulture, $"CSeq: {cseq}\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}");
        return Encoding.UTF8.GetBytes(head.ToString());
    }

    /// <summary>The interleaved RTP channel the client asked for in the SETUP of <paramref name="control"/>, or -1.</summary>
    public int ChannelOf(string control)
    {
        foreach (var r in Requests)
        {
            if (r.Method != "SETUP" || r.Transport is null || !r.Uri.EndsWith("/" + control, StringComparison.Ordinal))
                continue;
            int at = r.Transport.IndexOf("interleaved=", StringComparison.Ordinal);
            if (at >= 0)
                return int.Parse(r.Transport[(at + 12)..].Split('-', ';')[0], CultureInfo.InvariantCulture);
        }
        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        _listener.Stop();
        try { await _serve; } catch (OperationCanceledException) { }
        _cts.Dispose();
    }

    public static ushort Sequence(byte[] rtp) => BinaryPrimitives.ReadUInt16BigEndian(rtp.AsSpan(2));

    public static uint Timestamp(byte[] rtp) => BinaryPrimitives.ReadUInt32BigEndian(rtp.AsSpan(4));

    public static uint Ssrc(byte[] rtp) => BinaryPrimitives.ReadUInt32BigEndian(rtp.AsSpan(8));
}
