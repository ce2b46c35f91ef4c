using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using OspBridge.Media.Hub;
using OspBridge.Media.Writers;
using OspBridge.Testing;
using OspBridge.WebRtc.Media;
using OspBridge.Testing.Logging;

namespace OspBridge.Media.Tests.Sources;

/// <summary>External tools the source tests need (installed by test.sh); a missing one fails the test with why.</summary>
internal static class Tools
{
    public static string Require(string path, string package)
    {
        Assert.True(File.Exists(path), $"{path} is missing: install the Debian package {package} (./test.sh installs it when run as root)");
        return path;
    }

    public static string Ffmpeg => Require("/usr/bin/ffmpeg", "ffmpeg");

    public static string Ffprobe => Require("/usr/bin/ffprobe", "ffmpeg");

    public static async Task<string> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(timeout);
        var stdout = p.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = p.StandardError.ReadToEndAsync(cts.Token);
        await p.WaitForExitAsync(cts.Token);
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {await stderr}");
        return await stdout;
    }

    /// <summary>ffprobe: width, height and decoded frame count of the first video stream.</summary>
    public static async Task<(int Width, int Height, int Frames)> ProbeVideoAsync(string path)
    {
        string csv = await RunAsync(Ffprobe, ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", path], TimeSpan.FromSeconds(60));
        var f = csv.Trim().Split(',');
        return (int.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture));
    }

    /// <summary>ffprobe: codec, channels and packet count of the first audio stream.</summary>
    public static async Task<(string Codec, int Channels, int Packets)> ProbeAudioAsync(string path)
    {
        string csv = await RunAsync(Ffprobe, ["-v", "error", "-count_packets", "-select_streams", "a:0", "-show_entries", "stream=codec_name,channels,nb_read_packets", "-of", "csv=p=0", path], TimeSpan.FromSeconds(60));
        var f = csv.Trim().Split(',');
        return (f[0], int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture));
    }

    public static int FreeTcpPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static ILoggerFactory Logs(List<string> lines) => new ListLoggerFactory(lines);

    /// <summary>What <see cref="RecordAsync"/> saw: frames counted, the Annex B file and the frames written to it.</summary>
    public sealed record Recording(int Video, int Audio, int Keyframes, long Written, string Directory, string File);

    /// <summary>
    /// Reads <paramref name="sink"/> until <paramref name="videoFrames"/> H.264 frames arrived (bounded: 40 s), writing the
    /// video to an Annex B file in a fresh temp directory (the caller deletes it) and counting Opus frames.
    /// </summary>
    public static async Task<Recording> RecordAsync(MediaHubSink sink, string prefix, int videoFrames = 90)
    {
        string dir = System.IO.Directory.CreateTempSubdirectory(prefix).FullName;
        string file = Path.Combine(dir, "cam.h264");
        var writer = new AnnexBFileWriter(System.IO.File.Create(file));
        int video = 0, audio = 0, keyframes = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await foreach (var f in sink.ReadAllAsync(cts.Token))
        {
            if (f.Codec == MediaCodec.H264)
            {
                video++;
                keyframes += f.IsKeyframe ? 1 : 0;
                await writer.WriteAsync(f);
            }
            else if (f.Codec == MediaCodec.Opus)
            {
                audio++;
            }
            if (video >= videoFrames)
                break;
        }
        long written = writer.Frames;
        await writer.DisposeAsync();
        return new Recording(video, audio, keyframes, written, dir, file);
    }

    private sealed class ListLoggerFactory(List<string> lines) : ILoggerFactory
    {
        public void AddProvider(ILoggerProvider provider) { }

        public ILogger CreateLogger(string categoryName) => new LineLogger(l => { lock (lines) lines.Add(l); });

        public void Dispose() { }
    }
}

/// <summary>The GStreamer RTSP camera stand-in (interop/rtsp/rtsp_server.py) on 127.0.0.1.</summary>
internal sealed class RtspStandIn : IAsyncDisposable
{
    private readonly Process _process;

    private RtspStandIn(Process process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }

    public static async Task<RtspStandIn> StartAsync(int port, string auth = "none", int width = 640, int height = 360, int seconds = 120, string protocols = "all", string? backchannel = null, string backchannelCodec = "PCMU")
    {
        Tools.Require("/usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib", "gir1.2-gst-rtsp-server-1.0");
        Tools.Require("/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstx264.so", "gstreamer1.0-plugins-ugly");
        Tools.Require("/usr/lib/python3/dist-packages/gi/__init__.py", "python3-gi");
        string script = Path.Combine(RepoPaths.Interop, "rtsp", "rtsp_server.py");
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { "-u", script, "--port", port.ToString(CultureInfo.InvariantCulture), "--auth", auth, "--width", width.ToString(CultureInfo.InvariantCulture), "--height", height.ToString(CultureInfo.InvariantCulture), "--seconds", seconds.ToString(CultureInfo.InvariantCulture), "--protocols", protocols })
            psi.ArgumentList.Add(a);
        if (backchannel is not null)
        {
            Tools.Require("/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstmulaw.so", "gstreamer1.0-plugins-good");
            foreach (string a in new[] { "--backchannel", backchannel, "--backchannel-codec", backchannelCodec })
                psi.ArgumentList.Add(a);
        }
        var p = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string? line = await p.StandardOutput.ReadLineAsync(cts.Token);
        if (line is null || !line.StartsWith("READY ", StringComparison.Ordinal))
        {
            string err = p.HasExited ? await p.StandardError.ReadToEndAsync(cts.Token) : "";
            p.Kill(true);
            Assert.Fail($"RTSP stand-in did not start: {line} {err}");
        }
        _ = p.StandardError.ReadToEndAsync(CancellationToken.None);
        return new RtspStandIn(p, line!["READY ".Length..]);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill(true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
