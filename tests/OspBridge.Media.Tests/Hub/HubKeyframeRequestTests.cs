using System.Diagnostics;
using OspBridge.Media.Hub;
using OspBridge.Media.Sources;
using OspBridge.Media.Tests.Sources;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Hub;

/// <summary>
/// Issue 12 (PLI → keyframe within 1 s) at the hub, with the real test camera: a viewer's keyframe request goes
/// through its hub sink to the source, and the viewer's next keyframe follows within 1 s. The test camera cannot be
/// asked (ffmpeg has no such control): with GOP replay (default) the keyframe comes from the hub's cache at once;
/// without it, by the camera's 0.5 s GOP. Both are measured; also a late viewer's time to its first keyframe.
/// </summary>
public class HubKeyframeRequestTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Keyframe_request_through_a_sink_is_followed_by_a_keyframe_within_1s(bool replay)
    {
        _ = Tools.Ffmpeg;
        var logs = new List<string>();
        await using var hub = new MediaHub(MediaSource.Create("test", new MediaSourceOptions { LoggerFactory = Tools.Logs(logs), TestAudio = false }),
            new MediaHubOptions { ReplayGopOnKeyframeRequest = replay });
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
        output.WriteLine($"replay {replay}: request → keyframe: " + string.Join(", ", waits.Select(w => $"{w.TotalMilliseconds:0} ms")));
        Assert.Equal(requestAt.Length, waits.Count);
        Assert.All(waits, w => Assert.True(w <= TimeSpan.FromSeconds(1), $"keyframe {w.TotalMilliseconds:0} ms after the request"));
        Assert.Equal(requestAt.Length, hub.KeyframeRequests);
        // replayed frames count as frames too, so some requests come < 500 ms after the previous replay and wait for the
        // source's keyframe instead (GopReplayMinInterval)
        if (replay)
            Assert.InRange(hub.GopReplays, 1, requestAt.Length);
        else
            Assert.Equal(0, hub.GopReplays);
    }

    /// <summary>
    /// Time to first frame of a late viewer, joining at 8 phases of the test camera's GOP: with the GOP cache the
    /// keyframe is queued before <see cref="MediaHub.AddSinkAsync"/> returns; without it (cache size 0) the viewer
    /// waits for the source's next keyframe (0–500 ms with the 0.5 s GOP).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_late_viewer_gets_its_first_keyframe_from_the_cache_at_once(bool cache)
    {
        _ = Tools.Ffmpeg;
        var logs = new List<string>();
        await using var hub = new MediaHub(MediaSource.Create("test", new MediaSourceOptions { LoggerFactory = Tools.Logs(logs), TestAudio = false }),
            new MediaHubOptions { GopCacheMaxBytes = cache ? 8 * 1024 * 1024 : 0 });
        await using var first = await hub.AddSinkAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var waits = new List<TimeSpan>();
        int frames = 0;
        int[] joinAt = [3, 10, 21, 29, 38, 47, 55, 64]; // frames of the first viewer after its first keyframe
        await foreach (var f in first.ReadAllAsync(cts.Token))
        {
            if (f.Codec != MediaCodec.H264 || (frames == 0 && !f.IsKeyframe)) continue;
            frames++;
            if (waits.Count < joinAt.Length && frames == joinAt[waits.Count])
            {
                var clock = Stopwatch.StartNew();
                await using var late = await hub.AddSinkAsync(cts.Token);
                bool immediate = late.TryRead(out var got);
                if (!immediate)
                {
                    Assert.True(await late.WaitToReadAsync(cts.Token), "the late sink was closed");
                    Assert.True(late.TryRead(out got));
                }
                waits.Add(clock.Elapsed);
                Assert.True(got.IsKeyframe, "a late viewer's first frame is a keyframe");
                if (cache)
                    Assert.True(immediate, "with the GOP cache the keyframe is queued before AddSinkAsync returns");
            }
            if (waits.Count == joinAt.Length) break;
        }
        waits.Sort();
        output.WriteLine($"cache {cache}: late viewer → first keyframe: median {waits[waits.Count / 2].TotalMilliseconds:0.0} ms, max {waits[^1].TotalMilliseconds:0.0} ms ({string.Join(", ", waits.Select(w => $"{w.TotalMilliseconds:0.0}"))})");
        Assert.Equal(joinAt.Length, waits.Count);
        Assert.All(waits, w => Assert.True(w <= TimeSpan.FromSeconds(2), $"first keyframe {w.TotalMilliseconds:0} ms after joining"));
    }
}
