using Microsoft.Extensions.Time.Testing;
using OspBridge.Media.Hub;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Hub;

/// <summary>
/// GOP replay (docs/media.md "GOP cache and keyframe replay"): a late viewer starts from the cached GOP compressed in
/// time, and a viewer's keyframe request is answered from the cache when the source cannot force a keyframe; each
/// sink's video timestamps stay strictly increasing.
/// </summary>
public class GopReplayTests
{
    private static List<EncodedFrame> Drain(MediaHubSink sink)
    {
        var list = new List<EncodedFrame>();
        while (sink.TryRead(out var f))
            list.Add(f);
        return list;
    }

    private static void AssertVideoTimestampsIncrease(IEnumerable<EncodedFrame> frames)
    {
        TimeSpan? last = null;
        foreach (var f in frames.Where(f => f.Codec == MediaCodec.H264))
        {
            Assert.True(last is null || f.Timestamp > last, $"video timestamp {f.Timestamp.TotalMilliseconds} ms after {last?.TotalMilliseconds} ms (tag {f.Data.Span[0]})");
            last = f.Timestamp;
        }
    }

    [Fact]
    public async Task A_late_viewer_gets_the_cached_video_compressed_to_end_at_the_newest_frame_then_live_frames_unchanged()
    {
        var src = new ManualSource();
        await using var hub = new MediaHub(src);
        var first = await hub.AddSinkAsync();
        src.Push(1, true, ms: 1000);
        src.Push(2, false, ms: 1033);
        src.Push(3, false, codec: MediaCodec.Opus, ms: 1040);
        src.Push(4, false, ms: 1066);
        src.Push(5, false, ms: 1100);
        var late = await hub.AddSinkAsync();
        src.Push(6, false, ms: 1133);
        src.Push(7, false, codec: MediaCodec.Opus, ms: 1140);

        var frames = Drain(late);
        Assert.Equal([1, 2, 4, 5, 6, 7], frames.Select(f => f.Data.Span[0])); // cached audio (3) is not replayed
        Assert.True(frames[0].IsKeyframe);
        Assert.Equal([1097, 1098, 1099, 1100, 1133], frames.Where(f => f.Codec == MediaCodec.H264).Select(f => f.Timestamp.TotalMilliseconds));
        Assert.Equal(1140, frames[^1].Timestamp.TotalMilliseconds); // audio untouched
        // the first viewer saw everything live, unchanged
        Assert.Equal([1000, 1033, 1040, 1066, 1100, 1133, 1140], Drain(first).Select(f => f.Timestamp.TotalMilliseconds));
        Assert.Equal(0, hub.GopReplays);
    }

    [Fact]
    public async Task A_cache_replay_never_starts_before_the_keyframe_timestamp()
    {
        var src = new ManualSource();
        await using var hub = new MediaHub(src, new MediaHubOptions { GopReplayFrameSpacing = TimeSpan.FromMilliseconds(10) });
        await hub.AddSinkAsync();
        src.Push(1, true, ms: 100);
        src.Push(2, false, ms: 104);
        src.Push(3, false, ms: 108);
        src.Push(4, false, ms: 112);
        var late = await hub.AddSinkAsync();
        var ts = Drain(late).Select(f => f.Timestamp.TotalMilliseconds).ToArray();
        Assert.Equal([100, 104, 108, 112], ts); // spacing limited to the cached span: (112-100)/3 = 4 ms
    }

    [Fact]
    public async Task A_keyframe_request_is_answered_from_the_cache_with_monotonic_timestamps_for_that_viewer_only()
    {
        var time = new FakeTimeProvider();
        var src = new ManualSource();
        await using var hub = new MediaHub(src, new MediaHubOptions { TimeProvider = time, GopReplayFrameSpacing = TimeSpan.FromMilliseconds(10) });
        var a = await hub.AddSinkAsync();
        var b = await hub.AddSinkAsync();
        src.Push(1, true, ms: 0);
        src.Push(2, false, ms: 33);
        src.Push(3, false, codec: MediaCodec.Opus, ms: 40);
        src.Push(4, false, ms: 66);
        Drain(a);
        Drain(b);

        a.RequestKeyframe();
        src.Push(5, false, ms: 100);
        src.Push(6, false, ms: 133);

        var got = Drain(a);
        Assert.Equal([1, 2, 4, 5, 6], got.Select(f => f.Data.Span[0])); // keyframe + cached video, then live
        Assert.True(got[0].IsKeyframe);
        // the replay fits before the next live frame (33 ms interval, 3 frames: 33/4 = 8.25 ms apart), live frames unmoved
        Assert.Equal([74.25, 82.5, 90.75, 100, 133], got.Select(f => f.Timestamp.TotalMilliseconds));
        Assert.Equal([5, 6], Drain(b).Select(f => f.Data.Span[0]));
        Assert.Equal(1, a.GopReplays);
        Assert.Equal(0, b.GopReplays);
        Assert.Equal(1, hub.GopReplays);
        Assert.Equal(2, src.KeyframeRequests); // the source is still asked (the first was for b, which joined before any keyframe)

        // a second request within 500 ms is not replayed again; after it, it is
        time.Advance(TimeSpan.FromMilliseconds(300));
        a.RequestKeyframe();
        Assert.Empty(Drain(a));
        time.Advance(TimeSpan.FromMilliseconds(300));
        a.RequestKeyframe();
        src.Push(7, false, ms: 166);
        got = Drain(a);
        Assert.Equal([1, 2, 4, 5, 6, 7], got.Select(f => f.Data.Span[0]));
        Assert.Equal([138.5, 144, 149.5, 155, 160.5, 166], got.Select(f => f.Timestamp.TotalMilliseconds)); // 5 frames: 33/6 = 5.5 ms apart
        src.Push(8, false, ms: 200);
        Assert.Equal(200, Drain(a).Single().Timestamp.TotalMilliseconds); // no offset: video does not drift ahead of audio
        Assert.Equal(2, a.GopReplays);
        Assert.Equal(3, hub.KeyframeRequests);
    }

    /// <summary>
    /// A 2 s GOP holds up to 60 frames: replayed 1 ms apart they would outlast the 33 ms before the next live frame and
    /// every replay would add to the viewer's video offset (video drifting ahead of audio without bound).
    /// </summary>
    [Fact]
    public async Task Replays_of_a_long_gop_do_not_push_video_ahead_of_its_source_time()
    {
        var time = new FakeTimeProvider();
        var src = new ManualSource();
        await using var hub = new MediaHub(src, new MediaHubOptions { TimeProvider = time, GopReplayMinInterval = TimeSpan.Zero });
        var a = await hub.AddSinkAsync();
        var seen = new List<EncodedFrame>();
        for (int i = 0; i < 200; i++)
        {
            src.Push((byte)i, i % 60 == 0, ms: i * 33);
            if (i % 10 == 5) a.RequestKeyframe();
            seen.AddRange(Drain(a));
        }
        Assert.True(a.GopReplays >= 19, $"replays {a.GopReplays}");
        src.Push(200, false, ms: 200 * 33);
        var next = Drain(a).Single();
        Assert.Equal(200 * 33, next.Timestamp.TotalMilliseconds);
        seen.Add(next);
        AssertVideoTimestampsIncrease(seen);
    }

    [Fact]
    public async Task Timestamps_stay_strictly_increasing_over_many_requests_and_keyframes()
    {
        var time = new FakeTimeProvider();
        var src = new ManualSource();
        await using var hub = new MediaHub(src, new MediaHubOptions { TimeProvider = time, GopReplayMinInterval = TimeSpan.Zero });
        var a = await hub.AddSinkAsync();
        var seen = new List<EncodedFrame>();
        var rng = new Random(12);
        for (int i = 0; i < 400; i++)
        {
            src.Push((byte)i, i % 15 == 0, ms: i * 33);
            if (i % 3 == 0) src.Push((byte)i, false, codec: MediaCodec.Opus, ms: i * 33 + 5);
            if (rng.Next(7) == 0) a.RequestKeyframe();
            seen.AddRange(Drain(a));
        }
        AssertVideoTimestampsIncrease(seen);
        Assert.True(a.GopReplays > 20, $"replays {a.GopReplays}");
        Assert.Equal(0, a.FramesDropped);
    }

    [Fact]
    public async Task A_source_that_can_force_a_keyframe_is_asked_and_nothing_is_replayed()
    {
        var src = new ManualSource { CanForceKeyframe = true };
        await using var hub = new MediaHub(src);
        var a = await hub.AddSinkAsync();
        src.Push(1, true);
        src.Push(2, false);
        Drain(a);
        a.RequestKeyframe();
        Assert.Empty(Drain(a));
        Assert.Equal(1, src.KeyframeRequests);
        Assert.Equal(0, hub.GopReplays);
    }

    [Fact]
    public async Task Without_a_valid_cache_a_request_only_asks_the_source()
    {
        var src = new ManualSource();
        await using var hub = new MediaHub(src, new MediaHubOptions { GopCacheMaxBytes = 150 });
        var a = await hub.AddSinkAsync();
        src.Push(1, true);
        src.Push(2, false); // 200 octets > 150: the cache is dropped
        Drain(a);
        a.RequestKeyframe();
        Assert.Empty(Drain(a));
        Assert.Equal(0, hub.GopReplays);
        Assert.Equal(1, src.KeyframeRequests);
    }
}
