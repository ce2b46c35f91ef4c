using System.Security.Cryptography;
using OspBridge.Media.Formats;
using OspBridge.Media.Rtsp;
using OspBridge.Media.Sinks;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp;

namespace OspBridge.Media.BackChannel;

/// <summary>
/// An RTSP camera's ONVIF back channel as a talk-back <see cref="IAudioSink"/> (<see cref="Sources.IMediaSource.TalkBackSink"/>
/// of an <c>rtsp://</c> source). <see cref="TryOpenAsync"/> waits (at most <see cref="DescribeWait"/>) for the camera's
/// DESCRIBE answer and returns null when the camera offered no back channel or another talk-back session holds it.
/// A session turns each Opus packet into RTP for the back channel: Opus as it is when the camera takes Opus, otherwise
/// decoded and companded to PCMU/PCMA (<see cref="TalkBackTranscoder"/>) in 20 ms packets; one random SSRC, sequence
/// and timestamp per session, the marker bit on its first packet (RFC 3551 §4.1). While the camera is reconnecting
/// (no playing back channel) packets are dropped and counted; timestamps keep running so the camera's playout stays in step.
/// </summary>
internal sealed class RtspBackChannelSink(RtspSource source) : IAudioSink
{
    /// <summary>How long <see cref="TryOpenAsync"/> waits for the camera's first DESCRIBE answer.</summary>
    public static readonly TimeSpan DescribeWait = TimeSpan.FromSeconds(5);

    private int _busy;

    /// <summary>The camera source.</summary>
    internal RtspSource Source => source;

    /// <inheritdoc/>
    public string Description => $"the camera's ONVIF back channel ({source.Uri})";

    /// <summary>Sessions opened.</summary>
    public int SessionsOpened { get; private set; }

    /// <summary>The last session (tests read its counters), or null.</summary>
    internal Session? Last { get; private set; }

    /// <inheritdoc/>
    public async ValueTask<IAudioSinkSession?> TryOpenAsync(int channels, CancellationToken cancellationToken)
    {
        if (!await source.WaitForDescriptionAsync(DescribeWait, cancellationToken).ConfigureAwait(false) || source.BackChannelOffered is null)
            return null;
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            return null;
        SessionsOpened++;
        var session = new Session(this, source.BackChannelOffered.Value);
        Last = session;
        return session;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>One talk-back session on the back channel.</summary>
    internal sealed class Session : IAudioSinkSession
    {
        private readonly RtspBackChannelSink _owner;
        private readonly MediaCodec _codec;
        private readonly TalkBackTranscoder? _transcoder;
        private readonly byte[] _packet = new byte[RtspInterleavedFrame.HeaderLength + RtpHeader.FixedLength + 1500];
        private readonly byte[] _frame = new byte[TalkBackTranscoder.FrameSamples];
        private readonly uint _ssrc;
        private ushort _sequence;
        private uint _timestamp;
        private bool _first = true;
        private int _disposed;

        public Session(RtspBackChannelSink owner, MediaCodec codec)
        {
            _owner = owner;
            _codec = codec;
            _transcoder = codec == MediaCodec.Opus ? null : new TalkBackTranscoder(codec);
            Span<byte> r = stackalloc byte[10];
            RandomNumberGenerator.Fill(r);
            _ssrc = BitConverter.ToUInt32(r);
            _sequence = BitConverter.ToUInt16(r[4..]);
            _timestamp = BitConverter.ToUInt32(r[6..]);
        }

        /// <inheritdoc/>
        public long PacketsWritten { get; private set; }

        /// <inheritdoc/>
        public long PacketsDropped { get; private set; }

        /// <inheritdoc/>
        public long SamplesWritten { get; private set; }

        /// <summary>RTP packets sent to the camera.</summary>
        public long RtpPacketsSent { get; private set; }

        /// <summary>RTP packets not sent: no playing back channel (reconnecting) or the send failed.</summary>
        public long RtpPacketsDropped { get; private set; }

        /// <summary>The codec on the wire.</summary>
        public MediaCodec Codec => _codec;

        /// <inheritdoc/>
        public async ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> opusPacket, CancellationToken cancellationToken)
        {
            int samples = OpusPacket.GetSampleCount(opusPacket.Span);
            if (samples == 0 || opusPacket.Length > 1500)
            {
                PacketsDropped++;
                return false;
            }
            bool delivered;
            if (_transcoder is null)
            {
                delivered = await SendAsync(opusPacket.Span, samples, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                _transcoder.Push(opusPacket.Span);
                delivered = true;
                while (_transcoder.TryTakeFrame(_frame))
                    delivered &= await SendAsync(_frame, TalkBackTranscoder.FrameSamples, cancellationToken).ConfigureAwait(false);
            }
            SamplesWritten += samples;
            if (delivered)
                PacketsWritten++;
            else
                PacketsDropped++;
            return delivered;
        }

        private ValueTask<bool> SendAsync(ReadOnlySpan<byte> payload, int clockTicks, CancellationToken cancellationToken)
        {
            uint timestamp = _timestamp;
            _timestamp += (uint)clockTicks;
            var channel = _owner.Source.BackChannel;
            if (channel is null)
            {
                RtpPacketsDropped++;
                return ValueTask.FromResult(false);
            }
            int at = channel.Transport == RtspTransport.Tcp ? RtspInterleavedFrame.HeaderLength : 0;
            var header = new RtpHeader
            {
                Marker = _first,
                PayloadType = channel.PayloadType,
                SequenceNumber = _sequence++,
                Timestamp = timestamp,
                Ssrc = _ssrc,
            };
            if (!header.TryWrite(_packet.AsSpan(at), out int headerLength) || payload.Length > _packet.Length - at - headerLength)
            {
                RtpPacketsDropped++;
                return ValueTask.FromResult(false);
            }
            _first = false;
            payload.CopyTo(_packet.AsSpan(at + headerLength));
            int length = at + headerLength + payload.Length;
            return SendPacketAsync(channel, _packet.AsMemory(0, length), cancellationToken);
        }

        private async ValueTask<bool> SendPacketAsync(RtspBackChannel channel, ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
        {
            try
            {
                await channel.Send(packet, cancellationToken).ConfigureAwait(false);
                RtpPacketsSent++;
                return true;
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                RtpPacketsDropped++;
                return false;
            }
        }

        /// <inheritdoc/>
        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                Volatile.Write(ref _owner._busy, 0);
            return ValueTask.CompletedTask;
        }
    }
}
