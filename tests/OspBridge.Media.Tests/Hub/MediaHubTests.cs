using Microsoft.Extensions.Time.Testing;
using OspBridge.Media.Hub;
using OspBridge.Media.Sources;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Hub;

/// <summary>A source driven by the test: frames are pushed by hand.</summary>
internal sealed class ManualSource(bool video = true) : IMediaSource
{
    public MediaSourceInfo Info { get; } = new() { VideoCodec = video ? MediaCodec.H264 : null, AudioCodec = MediaCodec.Opus };
    public MediaSourceState State { get; private set; }
    public Action<EncodedFrame>? FrameReceived { get; set; }
    public int Starts { get; private set; }
    public int Stops { get; private set; }
    public int KeyframeRequests { get; private set; }
    public bool CanForceKeyframe { get; init; }

    public event EventHandler<MediaSourceStateChangedEventArgs>? StateChanged;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Starts++;
        State = MediaSourceState.Running;
        StateChanged?.Invoke(this, new(State, null));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Stops++;
        State = MediaSourceState.Stopped;
        return Task.CompletedTask;
    }

    public void RequestKeyframe() => KeyframeRequests++;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private readonly byte[] _scratch = new byte[4096];

    /// <summary>Pushes a frame whose first octet is <paramref name="tag"/>; the buffer is reused (the hub must copy).</summary>
    public void Push(byte tag, bool keyframe, int size = 100, MediaCodec codec = MediaCodec.H264, int ms = 0)
    {
        Array.Fill(_scratch, tag, 0, size);
        FrameReceived?.Invoke(new EncodedFrame(codec, _scratch.AsMemory(0, size), TimeSpan.FromMilliseconds(ms), keyframe));
        Array.Fill(_scratch, (byte)0xEE, 0, size); // a hub that kept the source's memory would see this
    }
}

public class MediaHubTests
{
    private static List<EncodedFrame> Drain(MediaHubSink sink)
    {
        var list = new List<EncodedFrame>();
        while (sink.TryRead(out var f))
            list.Add(f);
        return list;
    }

    [Fact]
    public async Task A_late_viewer_starts_at_the_cached_keyframe_and_gets_copies_of_the_frames()
    {
        var src = new ManualSource();
        await using var hub = new MediaHub(src);
        var first = await hub.AddSinkAsync();
        Assert.Equal(1, src.Starts);
        src.Push(1, false); // before any keyframe: the first viewer waits for one
        src.Push(2, true);
        src.Push(3, false);
        src.Push(4, false, codec: MediaCodec.Opus);
        src.Push(5, true);
        src.Push(6, false);
        var late = await hub.AddSinkAsync();
        src.Push(7, false);
        Assert.Equal([2, 3, 4, 5, 6, 7], Drain(first).Select(f => f.Data.Span[0]));
        var lateFrames = Drain(late);
        Assert.Equal([5, 6, 7], lateFrames.Select(f => f.Data.Span[0]));
        Assert.True(lateFrames[0].IsKeyframe);
        Assert.All(lateFrames, f => Assert.Equal(f.Data.Span[0], f.Data.Span[^1]));
        Assert.Equal(1, src.Starts);
        Assert.Equal(0, src.KeyframeRequests);
    }

    [Fact]
    public async Task Without_a_cache_a_new_viewer_asks_for_a_keyframe_and_waits_for_it()
    {
        var src = new ManualSource();
        await using var hub = new MediaHub(src);
        var a = await hub.AddSinkAsync();
        src.Push(1, false);
        var b = await hub.AddSinkAsync();
        Assert.Equal(1, src.KeyframeRequests);
        src.Push(2, false);
        src.Push(3, true);
        Assert.Equal([3], Drain(b).Select(f => f.Data.Span[0]));
        Assert.Equal([3], Drain(a).Select(f => f.Data.Span[0]));
    }

    [Fact]
    public async Task A_slow_viewer_is_resynchronized_at_the_next_keyframe_and_never_holds_back_the_others()
    {
        var src = new ManualSource();
        await using var hub = new MediaHub(src, new MediaHubOptions { SinkQueueMaxFrames = 10 });
        var fast = await hub.AddSinkAsync();
        var slow = await hub.AddSinkAsync();
        var fastSeen = new List<byte>();
        for (int i = 0; i < 100; i++)
        {
            src.Push((byte)i, i % 30 == 0);
            fastSeen.AddRange(Drain(fast).Select(f => f.Data.Span[0]));
        }
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (byte)i), fastSeen);
        Assert.True(slow.Resyncs >= 1);
        var slowFrames = Drain(slow);
        Assert.True(slowFrames.Count <= 10);
        Assert.True(slowFrames[0].IsKeyframe, "after an overflow the slow viewer restarts at a keyframe");
        Assert.Equal(90, slowFrames[0].Data.Span[0]);
        Assert.Equal(Enumerable.Range(90, 10).Select(i => (byte)i), slowFrames.Select(f => f.Data.Span[0]));
        Assert.True(slow.FramesDropped > 0);
        Assert.Equal(0, fast.FramesDropped);
    }

    [Fact]
    public async Task The_source_stops_after_the_grace_period_once_the_last_viewer_left_and_restarts_for_a_new_one()
    {
        var time = new FakeTimeProvider();
        var src = new ManualSource();
        await using var hub = new MediaHub(src, new MediaHubOptions { StopGracePeriod = TimeSpan.FromSeconds(10), TimeProvider = time });
        var a = await hub.AddSinkAsync();
        var b = await hub.AddSinkAsync();
        src.Push(1, true);
        await a.DisposeAsync();
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(0, src.Stops); // b is still there
        await b.DisposeAsync();
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(0, src.Stops);
        var c = await hub.AddSinkAsync(); // back within the grace period: no restart
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(0, src.Stops);
        Assert.Equal(1, src.Starts);
        await c.DisposeAsync();
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, src.Stops);
        Assert.False(hub.IsSourceRunning);
        Assert.Equal(0, hub.GopCacheFrames);
        await hub.AddSinkAsync();
        Assert.Equal(2, src.Starts);
    }

    [Fact]
    public async Task Audio_only_sources_need_no_keyframe()
    {
        var src = new ManualSource(video: false);
        await using var hub = new MediaHub(src);
        var s = await hub.AddSinkAsync();
        src.Push(1, true, codec: MediaCodec.Opus);
        src.Push(2, true, codec: MediaCodec.Opus);
        Assert.Equal(2, Drain(s).Count);
        Assert.Equal(0, src.KeyframeRequests);
    }

    [Fact]
    public async Task Disposing_the_hub_completes_every_sink()
    {
        var src = new ManualSource();
        var hub = new MediaHub(src);
        var s = await hub.AddSinkAsync();
        await hub.DisposeAsync();
        Assert.False(await s.WaitToReadAsync());
        Assert.Equal(1, src.Stops);
    }
}
