using System.Diagnostics;
using OspBridge.WebRtc.Media;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// The built-in <c>test</c> camera for <c>webrtc camera</c> until the Media project's source replaces it: two ffmpeg
/// children — lavfi <c>testsrc2</c> (running picture with a clock) encoded with libx264 Constrained Baseline as an
/// Annex B elementary stream with an AUD before every access unit, and a <c>sine</c> tone encoded as 20 ms Opus
/// packets in Ogg — both paced in real time (<c>-re</c>) and read from their stdout into <see cref="EncodedFrame"/>s.
/// </summary>
internal sealed class FfmpegTestSource : IAsyncDisposable
{
    /// <summary>Largest access unit accepted from ffmpeg before the stream is declared broken.</summary>
    private const int MaxAccessUnit = 4 * 1024 * 1024;

    private readonly List<Process> _children = [];
    private readonly CancellationTokenSource _cts = new();

    public int Width { get; init; } = 640;
    public int Height { get; init; } = 480;
    public int Fps { get; init; } = 30;
    public int ToneHz { get; init; } = 440;
    /// <summary>Keyframe interval in frames (a PLI is answered by the next one).</summary>
    public int Gop { get; init; } = 15;

    public static string? WhyUnavailable() =>
        File.Exists("/usr/bin/ffmpeg") || (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "ffmpeg")))
            ? null : "ffmpeg is not installed (apt-get install ffmpeg)";

    /// <summary>Starts both children; <paramref name="onFrame"/> runs on reader threads (one per child).</summary>
    public void Start(Action<EncodedFrame> onFrame, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(onFrame);
        string video = $"-hide_banner -loglevel error -re -f lavfi -i testsrc2=size={Width}x{Height}:rate={Fps} -pix_fmt yuv420p " +
            $"-c:v libx264 -profile:v baseline -level 3.1 -preset ultrafast -tune zerolatency -g {Gop} -keyint_min {Gop} -bf 0 " +
            "-x264-params aud=1:repeat-headers=1 -bsf:v h264_mp4toannexb -f h264 pipe:1";
        string audio = $"-hide_banner -loglevel error -re -f lavfi -i sine=frequency={ToneHz}:sample_rate=48000 -ac 1 " +
            "-c:a libopus -b:a 48k -frame_duration 20 -application lowdelay -page_duration 20000 -flush_packets 1 -f ogg pipe:1";
        var v = Spawn(video, log);
        var a = Spawn(audio, log);
        _ = Task.Run(() => ReadVideoAsync(v.StandardOutput.BaseStream, onFrame, log, _cts.Token));
        _ = Task.Run(() => ReadOggOpusAsync(a.StandardOutput.BaseStream, onFrame, log, _cts.Token));
    }

    private Process Spawn(string args, Action<string> log)
    {
        var psi = new ProcessStartInfo("ffmpeg", args)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        var p = Process.Start(psi) ?? throw new CliException("could not start ffmpeg");
        _children.Add(p);
        p.ErrorDataReceived += (_, e) => { if (!string.IsNullOrEmpty(e.Data)) log("ffmpeg: " + TerminalText.Sanitize(e.Data)); };
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Splits the Annex B stream at AUD NAL units (type 9) into access units.</summary>
    internal async Task ReadVideoAsync(Stream s, Action<EncodedFrame> onFrame, Action<string> log, CancellationToken ct)
    {
        var buf = new byte[1 << 20];
        int len = 0, scanFrom = 0, auStart = -1;
        long frame = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (len == buf.Length)
                {
                    if (buf.Length >= MaxAccessUnit) { log("ffmpeg: access unit too large"); return; }
                    Array.Resize(ref buf, buf.Length * 2);
                }
                int n = await s.ReadAsync(buf.AsMemory(len), ct).ConfigureAwait(false);
                if (n == 0) return;
                len += n;
                // find AUD start codes: 00 00 01 09 (a 4-byte start code's leading zero stays with the previous AU, harmless)
                int i = Math.Max(0, scanFrom);
                for (; i + 3 < len; i++)
                {
                    if (buf[i] != 0 || buf[i + 1] != 0 || buf[i + 2] != 1 || (buf[i + 3] & 0x1f) != 9) continue;
                    if (auStart >= 0)
                    {
                        var au = buf.AsMemory(auStart, i - auStart);
                        onFrame(new EncodedFrame(MediaCodec.H264, au, TimeSpan.FromTicks(frame * TimeSpan.TicksPerSecond / Fps), IsIdr(au.Span)));
                        frame++;
                    }
                    auStart = i;
                }
                scanFrom = i;
                if (auStart > 0)
                {
                    Buffer.BlockCopy(buf, auStart, buf, 0, len - auStart);
                    len -= auStart;
                    scanFrom -= auStart;
                    auStart = 0;
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (IOException) { }
    }

    internal static bool IsIdr(ReadOnlySpan<byte> au)
    {
        for (int i = 0; i + 3 < au.Length; i++)
            if (au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 && (au[i + 3] & 0x1f) == 5) return true;
        return false;
    }

    /// <summary>Reads Ogg pages (RFC 3533) and emits each Opus packet after the OpusHead/OpusTags headers (RFC 7845).</summary>
    internal static async Task ReadOggOpusAsync(Stream s, Action<EncodedFrame> onFrame, Action<string> log, CancellationToken ct)
    {
        var header = new byte[27];
        var segs = new byte[255];
        var packet = new List<byte>(4096);
        long packets = 0;
        long samples = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (!await ReadExactAsync(s, header, ct).ConfigureAwait(false)) return;
                if (header[0] != 'O' || header[1] != 'g' || header[2] != 'g' || header[3] != 'S') { log("ogg: lost sync"); return; }
                int nseg = header[26];
                if (!await ReadExactAsync(s, segs.AsMemory(0, nseg), ct).ConfigureAwait(false)) return;
                int total = 0;
                for (int i = 0; i < nseg; i++) total += segs[i];
                var body = new byte[total];
                if (!await ReadExactAsync(s, body, ct).ConfigureAwait(false)) return;
                int at = 0;
                for (int i = 0; i < nseg; i++)
                {
                    packet.AddRange(body.AsSpan(at, segs[i]));
                    at += segs[i];
                    if (segs[i] == 255) continue;
                    if (packets++ >= 2 && packet.Count > 0)
                    {
                        var data = packet.ToArray();
                        onFrame(new EncodedFrame(MediaCodec.Opus, data, TimeSpan.FromTicks(samples * TimeSpan.TicksPerSecond / 48000), true));
                        samples += OpusSamples(data);
                    }
                    packet.Clear();
                    if (packet.Capacity > 65536) packet.Capacity = 4096;
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (IOException) { }
    }

    /// <summary>Samples at 48 kHz in an Opus packet, from its TOC (RFC 6716 §3.1).</summary>
    internal static int OpusSamples(ReadOnlySpan<byte> p)
    {
        if (p.IsEmpty) return 960;
        int config = p[0] >> 3;
        int frameSamples = config < 12 ? new[] { 480, 960, 1920, 2880 }[config & 3]
            : config < 16 ? ((config & 1) == 0 ? 480 : 960)
            : new[] { 120, 240, 480, 960 }[config & 3];
        int frames = (p[0] & 3) switch { 0 => 1, 1 or 2 => 2, _ => p.Length > 1 ? p[1] & 0x3f : 1 };
        return frameSamples * Math.Max(1, frames);
    }

    private static async Task<bool> ReadExactAsync(Stream s, Memory<byte> buf, CancellationToken ct)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int n = await s.ReadAsync(buf[got..], ct).ConfigureAwait(false);
            if (n == 0) return false;
            got += n;
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        foreach (var p in _children)
        {
            try { if (!p.HasExited) p.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { }
            try { await p.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
            catch (TimeoutException) { }
            p.Dispose();
        }
        _cts.Dispose();
    }
}
