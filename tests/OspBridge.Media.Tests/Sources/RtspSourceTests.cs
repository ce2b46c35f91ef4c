using OspBridge.Media.Hub;
using OspBridge.Media.Rtsp;
using OspBridge.Media.Sources;
using OspBridge.Media.Writers;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Sources;

/// <summary>Our RTSP client against GStreamer's RTSP server (interop/rtsp/rtsp_server.py) on 127.0.0.1.</summary>
public class RtspSourceTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Theory]
    [InlineData("none")]
    [InlineData("basic")]
    [InlineData("digest")]
    public async Task Rtsp_camera_gives_h264_keyframes_and_opus_with_each_auth_scheme(string auth)
    {
        int port = Tools.FreeTcpPort();
        await using var server = await RtspStandIn.StartAsync(port, auth);
        string url = auth == "none" ? server.Url : server.Url.Replace("rtsp://", "rtsp://user:pass@", StringComparison.Ordinal);
        var logs = new List<string>();
        await using var hub = new MediaHub(MediaSource.Create(url, new MediaSourceOptions { LoggerFactory = Tools.Logs(logs) }));
        await using var sink = await hub.AddSinkAsync();
        var (video, audio, keyframes, written, dir, file) = await Tools.RecordAsync(sink, "ospb-rtsp-");
        output.WriteLine($"{video} video ({keyframes} key), {audio} audio; {hub.Source.Info}");
        Assert.True(keyframes >= 2, $"{keyframes} keyframes");
        Assert.True(audio > 20, $"{audio} Opus frames");
        Assert.Equal(640, hub.Source.Info.Width);
        Assert.Equal(360, hub.Source.Info.Height);
        Assert.Equal(MediaCodec.Opus, hub.Source.Info.AudioCodec);
        var (w, h, frames) = await Tools.ProbeVideoAsync(file);
        Assert.Equal((640, 360), (w, h));
        Assert.InRange(frames, written * 95 / 100, written * 105 / 100);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Wrong_password_reports_unauthorized()
    {
        int port = Tools.FreeTcpPort();
        await using var server = await RtspStandIn.StartAsync(port, "digest");
        await using var source = MediaSource.Create(server.Url.Replace("rtsp://", "rtsp://user:wrong@", StringComparison.Ordinal), new MediaSourceOptions { InitialBackoff = TimeSpan.FromSeconds(5) });
        var failed = new TaskCompletionSource<Exception?>();
        source.StateChanged += (_, e) =>
        {
            if (e.State == MediaSourceState.Retrying)
                failed.TrySetResult(e.Error);
        };
        await source.StartAsync(CancellationToken.None);
        var error = await failed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var media = Assert.IsType<MediaException>(error);
        Assert.Equal(MediaError.Unauthorized, media.Error);
    }

    [Fact]
    public async Task Rtsp_source_reconnects_after_the_camera_restarts()
    {
        int port = Tools.FreeTcpPort();
        var server = await RtspStandIn.StartAsync(port);
        var options = new MediaSourceOptions { InitialBackoff = TimeSpan.FromMilliseconds(300), RtspMediaTimeout = TimeSpan.FromSeconds(3) };
        await using var source = (RtspSource)MediaSource.Create(server.Url, options);
        int keyframes = 0;
        var firstRun = new TaskCompletionSource();
        var secondRun = new TaskCompletionSource();
        source.FrameReceived = f =>
        {
            if (!f.IsKeyframe || f.Codec != MediaCodec.H264)
                return;
            keyframes++;
            if (source.Sessions == 1)
                firstRun.TrySetResult();
            else if (source.Sessions >= 2)
                secondRun.TrySetResult();
        };
        await source.StartAsync(CancellationToken.None);
        await firstRun.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await server.DisposeAsync();
        await using var again = await RtspStandIn.StartAsync(port);
        await secondRun.Task.WaitAsync(TimeSpan.FromSeconds(40));
        Assert.True(source.Sessions >= 2);
    }
}
