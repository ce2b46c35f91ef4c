using System.Diagnostics;
using OspBridge.Media.Hub;
using OspBridge.Media.Sources;
using OspBridge.Media.Tests.Sources;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Hub;

/// <summary>
/// Issue 12 (PLI → keyframe within 1 s) at the hub, with the real test camera: a viewer's keyframe request goes
/// through its hub sink to the source, and the viewer's next keyframe follows within 1 s (the test camera cannot be
/// asked — ffmpeg has no such control — so this holds by its 0.5 s GOP; exec:/RTSP sources depend on the camera's GOP).
/// </summary>
public class HubKeyframeRequestTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Keyframe_request_through_a_sink_is_followed_by_a_keyframe_within_1s()
    {
        _ = Tools.Ffmpeg;
        var logs = new List<string>();
        await using var hub = new MediaHub(MediaSource.Create("test", new MediaSourceOptions { LoggerFactory = Tools.Logs(logs), TestAudio = false }));
        await using var sink = await hub.AddSinkAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var clock = Stopwatch.StartNew();
        // requests at frames 20, 41, 67, 88, 113 (varying phases within the GOP), after the first keyframe
        int[] requestAt = [20, 41, 67, 88, 113];
        var waits = new List<TimeSpan>();
        TimeSpan? pending = null;
        int frames = 0, next = 0;
        bool started = false;
        await foreach (var f in sink.ReadAllAsync(cts.Token))
        {
            if (f.Codec != MediaCodec.H264) continue;
            started |= f.IsKeyframe;
            if (!started) continue;
            frames++;
            if (f.IsKeyframe && pending is { } asked)
            {
                waits.Add(clock.Elapsed - asked);
                pending = null;
            }
            if (pending is null && next < requestAt.Length && frames >= requestAt[next])
            {
                next++;
                sink.RequestKeyframe();
                pending = clock.Elapsed;
            }
            if (next == requestAt.Length && pending is null) break;
        }
        output.WriteLine("request → keyframe: " + string.Join(", ", waits.Select(w => $"{w.TotalMilliseconds:0} ms")));
        Assert.Equal(requestAt.Length, waits.Count);
        Assert.All(waits, w => Assert.True(w <= TimeSpan.FromSeconds(1), $"keyframe {w.TotalMilliseconds:0} ms after the request"));
        Assert.Equal(requestAt.Length, hub.KeyframeRequests);
    }
}
