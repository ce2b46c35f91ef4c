using OspBridge.PeerFetch.Core;
using OspBridge.PeerFetch.Wire;
using OspBridge.Testing;

namespace OspBridge.PeerFetch.Tests;

/// <summary>
/// Issue 11: the v2 core allocates nothing per frame in steady state — DATA and WINDOW_UPDATE frames are built in
/// pooled arrays (<see cref="OutFrame"/>), received DATA is reported as slices of the message, events are structs.
/// Deterministic: one thread, allocation counted with <see cref="GC.GetAllocatedBytesForCurrentThread"/>.
/// </summary>
public class MuxAllocationTests
{
    private static readonly TimeSpan T0 = TimeSpan.FromSeconds(1);

    [Fact]
    public void Steady_state_DATA_encode_and_decode_allocates_nothing_per_frame()
    {
        var a = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = true, MaxMessageSize = 256 << 10 });
        var b = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = false, MaxMessageSize = 256 << 10 });
        a.Start(T0);
        b.Start(T0);
        Pump(a, b, out _);
        Assert.Equal(MuxState.Open, a.State);
        Assert.Equal(MuxState.Open, b.State);
        uint id = a.OpenStream([new(":method", "GET"), new(":path", "/big")], endStream: true);
        Pump(a, b, out _);
        b.SendHeaders(id, [new(":status", "200")], endStream: false);
        Pump(a, b, out _);

        var chunk = new byte[64 << 10];
        for (int i = 0; i < chunk.Length; i++) chunk[i] = (byte)(i * 7);

        // Warm-up: pool buckets, queue capacities, the JIT.
        long moved = Transfer(a, b, id, chunk, 200, out _);
        Assert.Equal(200L * chunk.Length, moved);

        const int Frames = 2000;
        bool checkedBytes = false;
        // Least of up to three windows of 2000 frames (OspBridge.Testing.Allocations): a one-off runtime allocation on
        // the thread lands in one window, a per-frame allocation (≥ 24 B × 2000) in every window.
        long allocated = Allocations.LeastOf(Allocations.DefaultWindows, () =>
        {
            moved = Transfer(a, b, id, chunk, Frames, out bool seen);
            checkedBytes |= seen;
        }, enough: 4096);

        Assert.True(checkedBytes, "no DATA event carried the expected bytes");
        Assert.Equal((long)Frames * chunk.Length, moved);
        // 2000 frames of 64 KiB (131 MB) moved: the old core allocated one 64 KiB array per frame (131 MB here).
        Assert.True(allocated <= 4096, $"{allocated} bytes allocated for {Frames} DATA frames (+ their WINDOW_UPDATEs): expected none per frame");
    }

    /// <summary>Device b sends <paramref name="frames"/> DATA frames on stream id; client a consumes each (WINDOW_UPDATEs flow back).</summary>
    private static long Transfer(PeerFetchMux a, PeerFetchMux b, uint id, byte[] chunk, int frames, out bool checkedBytes)
    {
        long moved = 0;
        checkedBytes = false;
        for (int i = 0; i < frames; i++)
        {
            int n = b.SendData(id, chunk, endStream: false);
            if (n != chunk.Length) Assert.Fail($"frame {i}: SendData took {n} of {chunk.Length} bytes (credit stalled)"); // no string per frame
            while (b.TryPollFrame(out var f))
            {
                a.Receive(f.Memory, false, T0);
                f.Release();
            }
            while (a.TryPollEvent(out var e))
            {
                if (e.Type != MuxEventType.Data) continue;
                if (!checkedBytes && e.Data.Length == chunk.Length) checkedBytes = e.Data.Span.SequenceEqual(chunk);
                moved += e.Data.Length;
                a.Consume(e.StreamId, e.Data.Length);
            }
            while (a.TryPollFrame(out var f))
            {
                b.Receive(f.Memory, false, T0);
                f.Release();
            }
            while (b.TryPollEvent(out _)) { }
        }
        return moved;
    }

    private static void Pump(PeerFetchMux a, PeerFetchMux b, out int frames)
    {
        frames = 0;
        for (int round = 0; round < 20; round++)
        {
            bool any = false;
            while (a.TryPollMessage(out var m)) { b.Receive(m, false, T0); any = true; frames++; }
            while (b.TryPollMessage(out var m)) { a.Receive(m, false, T0); any = true; frames++; }
            while (a.TryPollEvent(out _)) { }
            while (b.TryPollEvent(out _)) { }
            if (!any) return;
        }
    }

    [Fact]
    public void Pooled_frames_have_the_same_bytes_as_the_array_frames()
    {
        foreach (int size in new[] { 0, 1, 100, 16 << 10, 64 << 10 })
        {
            var data = new byte[size];
            new Random(size).NextBytes(data);
            foreach (bool end in new[] { false, true })
            {
                var pooled = DataFrame.CreatePooled(7, data, end);
                Assert.Equal(DataFrame.Create(7, data, end), pooled.Memory.ToArray());
                pooled.Release();
            }
        }
        var wu = WindowUpdateFrame.CreatePooled(5, 123456);
        Assert.Equal(WindowUpdateFrame.Create(5, 123456), wu.Memory.ToArray());
        wu.Release();
    }
}
