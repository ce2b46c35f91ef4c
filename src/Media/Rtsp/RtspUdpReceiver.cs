using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using OspBridge.Net.Core;
using OspBridge.Net.IO;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Rtsp;

/// <summary>A frame out of one UDP track's <see cref="RtpReceiveStream"/>; its memory is valid until the next call into that stream.</summary>
internal readonly record struct RtspUdpFrame(RtspUdpTrack Track, EncodedFrame Frame);

/// <summary>
/// The UDP tracks of one RTSP session on one serialized <see cref="CoreLoop{TEvent}"/> (docs/architecture.md "The one
/// core contract and the one driver"): the socket receive tasks post the server's datagrams with <see cref="Post"/>, the
/// loop feeds them to the tracks' <see cref="RtpReceiveStream"/>s, hands their in-order frames to the frame handler,
/// sends the RTCP they owe to the server's RTCP port and waits on one timer armed at the earliest
/// <see cref="RtpReceiveStream.NextDeadline"/> (reorder release, receiver report, PLI pacing). No lock, no fixed tick.
/// </summary>
internal sealed class RtspUdpReceiver : IAsyncDisposable
{
    private readonly CoreLoop<RtspUdpFrame> _loop;

    /// <param name="tracks">The session's receive tracks; from <see cref="Start"/> on only the loop touches their streams.</param>
    /// <param name="onFrame">Called on the loop for every frame, in order per track; must not block.</param>
    /// <param name="onRtcpSent">Called on the loop after each RTCP compound handed to a track's socket.</param>
    /// <param name="time">The loop's clock and timer.</param>
    /// <param name="logger">Where the loop logs a failure.</param>
    /// <param name="name">The loop's name in log messages.</param>
    public RtspUdpReceiver(IReadOnlyList<RtspUdpTrack> tracks, Action<RtspUdpFrame> onFrame, Action onRtcpSent, TimeProvider time, ILogger logger, string name)
    {
        _loop = new CoreLoop<RtspUdpFrame>(new Core(tracks), new Sender(tracks, onRtcpSent), onFrame, new CoreLoopOptions
        {
            TimeProvider = time,
            Logger = logger,
            Name = name,
            MaxDatagramSize = 1500, // RTCP compounds: RR + SDES, or RR + PLI (RtpReceiveStream wants ≥ 1200)
            SendBatchSize = 8,
            MaxTransmitsPerPass = 64,
        });
    }

    /// <summary>Completes when the loop stops; faulted when a stream or the frame handler threw.</summary>
    public Task Completion => _loop.Completion;

    /// <summary>Datagrams dropped because the loop's inbox was full (or it had stopped).</summary>
    public long DroppedDatagrams => _loop.DroppedDatagrams;

    /// <summary>Starts the loop (once).</summary>
    public void Start() => _loop.Start();

    /// <summary>Queues a datagram from the RTSP server received on <paramref name="track"/>'s RTP or RTCP socket (copied). Any thread.</summary>
    public bool Post(RtspUdpTrack track, bool rtcp, ReadOnlySpan<byte> datagram) =>
        _loop.TryPostDatagram(datagram, new DatagramPath(rtcp ? track.RtcpLocal : track.RtpLocal, null));

    /// <summary>The loop's counters (tests: how often it woke).</summary>
    internal CoreLoopCounters Counters => _loop.Counters;

    /// <summary>Completes after the loop handled everything queued before (and the pass that followed). Tests.</summary>
    internal Task SyncAsync(CancellationToken cancellationToken) => _loop.InvokeAsync(static _ => { }, cancellationToken);

    public ValueTask DisposeAsync() => _loop.DisposeAsync();

    /// <summary>
    /// The tracks' streams as one core: input by the local endpoint it arrived on, the RTCP every stream owes, the
    /// earliest deadline of all; the events are the streams' frames (pulled at the time of the last call).
    /// </summary>
    private sealed class Core(IReadOnlyList<RtspUdpTrack> tracks) : IProtocolCore<RtspUdpFrame>
    {
        private const int MaxDiscardedPerTrack = 8;
        private TimeSpan _now;
        private int _nextTransmit;
        private int _frameTrack;

        public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
        {
            _now = now;
            foreach (var t in tracks)
            {
                if (ReferenceEquals(path.Local, t.RtpLocal))
                {
                    t.Stream.ReceiveRtp(datagram, now);
                    return;
                }
                if (ReferenceEquals(path.Local, t.RtcpLocal))
                {
                    t.Stream.ReceiveRtcp(datagram, now);
                    return;
                }
            }
        }

        public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
        {
            _now = now;
            for (int i = 0; i < tracks.Count; i++)
            {
                var t = tracks[(_nextTransmit + i) % tracks.Count];
                // A track whose server named no RTCP port still advances its report and PLI timers (what it owes is
                // dropped), so its deadline moves on instead of staying due.
                for (int k = 0; k < MaxDiscardedPerTrack && t.Stream.TryPollTransmit(destination, now, out int written); k++)
                {
                    if (t.ServerRtcp is { } to)
                    {
                        _nextTransmit = (_nextTransmit + i + 1) % tracks.Count;
                        transmit = new Transmit(written, new DatagramPath(t.RtcpLocal, to));
                        return true;
                    }
                }
            }
            transmit = default;
            return false;
        }

        /// <summary>
        /// The earliest stream deadline. A stream's deadline at or before now is work due now (a PLI that a frame poll just
        /// made owed, say): the loop runs another pass for it. Streams never name a deadline their handling does not
        /// consume (RtpReceiveStream.NextDeadline's contract), so this needs no retry delay of its own.
        /// </summary>
        public TimeSpan? NextDeadline
        {
            get
            {
                TimeSpan? next = null;
                foreach (var t in tracks)
                {
                    if (t.Stream.NextDeadline is { } d && (next is null || d < next))
                        next = d;
                }
                return next;
            }
        }

        public void HandleDeadline(TimeSpan now)
        {
            _now = now;
            foreach (var t in tracks)
            {
                if (t.Stream.NextDeadline <= now)
                    t.Stream.HandleDeadline(now);
            }
        }

        public bool TryPollEvent([MaybeNullWhen(false)] out RtspUdpFrame ev)
        {
            for (; _frameTrack < tracks.Count; _frameTrack++)
            {
                var t = tracks[_frameTrack];
                while (t.Stream.TryPollEvent(out _))
                {
                    // SSRC changes, keyframe requests: RTSP has nothing to do with them
                }
                if (t.Stream.TryPollFrame(_now, out var frame))
                {
                    ev = new RtspUdpFrame(t, frame);
                    return true;
                }
            }
            _frameTrack = 0;
            ev = default;
            return false;
        }
    }

    /// <summary>Sends each RTCP compound from the socket of the track it belongs to (best effort, as UDP).</summary>
    private sealed class Sender(IReadOnlyList<RtspUdpTrack> tracks, Action onRtcpSent) : IDatagramSender
    {
        public void Send(DatagramBatch batch)
        {
            for (int i = 0; i < batch.Count; i++)
            {
                var path = batch.PathAt(i);
                if (path.Remote is null)
                    continue;
                foreach (var t in tracks)
                {
                    if (ReferenceEquals(path.Local, t.RtcpLocal))
                    {
                        if (t.TrySendRtcp(batch[i]))
                            onRtcpSent();
                        break;
                    }
                }
            }
        }
    }
}
