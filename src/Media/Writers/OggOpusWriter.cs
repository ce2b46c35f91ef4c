using System.Buffers.Binary;
using OspBridge.Media.Formats;

namespace OspBridge.Media.Writers;

/// <summary>
/// Writes Opus packets to an Ogg Opus stream (RFC 7845): page 0 is OpusHead (BOS), page 1 OpusTags, then one page per
/// audio packet with the granule position = samples (48 kHz) up to the end of that packet, plus pre-skip (§4). The
/// last page is flagged EOS on <see cref="DisposeAsync"/>. Sample counts come from each packet's TOC octet.
/// </summary>
public sealed class OggOpusWriter : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly uint _serial;
    private readonly int _preSkip;
    private readonly byte[] _page = new byte[OggPage.MaxLength];
    private readonly byte[] _lacing = new byte[255];
    private uint _sequence;
    private long _granule;
    private bool _headersWritten;
    private readonly int _channels;

    /// <summary>Creates a writer over <paramref name="stream"/>.</summary>
    /// <param name="stream">Where the pages go.</param>
    /// <param name="channels">1 or 2.</param>
    /// <param name="serial">The Ogg bitstream serial number.</param>
    /// <param name="preSkip">Samples the decoder discards at the start (RFC 7845 §4.2; 312 is libopus' usual value).</param>
    /// <param name="leaveOpen">Leave <paramref name="stream"/> open on dispose.</param>
    public OggOpusWriter(Stream stream, int channels = 2, uint serial = 0x4F535042, int preSkip = 0, bool leaveOpen = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(channels, 2);
        _stream = stream;
        _channels = channels;
        _serial = serial;
        _preSkip = preSkip;
        _leaveOpen = leaveOpen;
        _granule = preSkip;
    }

    /// <summary>Audio packets written.</summary>
    public long Packets { get; private set; }

    /// <summary>Samples (48 kHz) written, without pre-skip.</summary>
    public long Samples => _granule - _preSkip;

    /// <summary>Appends one Opus packet. Malformed packets (no valid TOC duration) or packets over 64 KB are refused.</summary>
    public async ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default)
    {
        int samples = OpusPacket.GetSampleCount(packet.Span);
        if (samples == 0 || packet.Length > 254 * 255)
            return false;
        await EnsureHeadersAsync(cancellationToken).ConfigureAwait(false);
        _granule += samples;
        await WritePacketPageAsync(packet, 0, _granule, cancellationToken).ConfigureAwait(false);
        Packets++;
        return true;
    }

    /// <summary>Writes the headers if nothing was written, and an empty EOS page; closes the stream unless left open.</summary>
    public async ValueTask DisposeAsync()
    {
        await EnsureHeadersAsync(CancellationToken.None).ConfigureAwait(false);
        if (OggPage.TryWrite(_page, OggPage.EndOfStream, _granule, _serial, _sequence++, [], [], out int n))
            await _stream.WriteAsync(_page.AsMemory(0, n)).ConfigureAwait(false);
        await _stream.FlushAsync().ConfigureAwait(false);
        if (!_leaveOpen)
            await _stream.DisposeAsync().ConfigureAwait(false);
    }

    private async ValueTask EnsureHeadersAsync(CancellationToken cancellationToken)
    {
        if (_headersWritten)
            return;
        _headersWritten = true;
        var head = new byte[19];
        "OpusHead"u8.CopyTo(head);
        head[8] = 1; // version
        head[9] = (byte)_channels;
        BinaryPrimitives.WriteUInt16LittleEndian(head.AsSpan(10), (ushort)_preSkip);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(12), 48000); // input sample rate (informational)
        // output gain 0 (16..17), channel mapping family 0 (18)
        await WritePacketPageAsync(head, OggPage.BeginningOfStream, 0, cancellationToken).ConfigureAwait(false);
        byte[] vendor = "OspBridge"u8.ToArray();
        var tags = new byte[8 + 4 + vendor.Length + 4];
        "OpusTags"u8.CopyTo(tags);
        BinaryPrimitives.WriteUInt32LittleEndian(tags.AsSpan(8), (uint)vendor.Length);
        vendor.CopyTo(tags, 12);
        // user comment list length 0
        await WritePacketPageAsync(tags, 0, 0, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask WritePacketPageAsync(ReadOnlyMemory<byte> packet, byte headerType, long granule, CancellationToken cancellationToken)
    {
        int segments = (packet.Length / 255) + 1;
        for (int i = 0; i < segments - 1; i++)
            _lacing[i] = 255;
        _lacing[segments - 1] = (byte)(packet.Length % 255);
        if (!OggPage.TryWrite(_page, headerType, granule, _serial, _sequence++, _lacing.AsSpan(0, segments), packet.Span, out int n))
            throw new MediaException(MediaError.LimitExceeded, "Opus packet too large for one Ogg page");
        await _stream.WriteAsync(_page.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
    }
}
