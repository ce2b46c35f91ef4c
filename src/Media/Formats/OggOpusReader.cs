using System.Buffers.Binary;

namespace OspBridge.Media.Formats;

/// <summary>
/// Reads Opus packets from an Ogg Opus stream (RFC 7845) that arrives in arbitrary pieces: pages are checked
/// (capture pattern, version, CRC; bad bytes are skipped up to the next "OggS"), packets are reassembled across
/// pages from the lacing values, the OpusHead and OpusTags header packets are consumed, and each audio packet comes
/// out with its position in 48 kHz samples from the start of the stream (sum of the packets' TOC durations).
/// </summary>
/// <remarks>Memory is bounded (one page of input plus one packet); a packet over the limit is dropped. Not thread-safe.</remarks>
public sealed class OggOpusReader
{
    /// <summary>Largest Opus packet kept (RFC 6716 allows 120 ms of 1275-octet frames; 64 KB is generous).</summary>
    public const int MaxPacketSize = 64 * 1024;

    private readonly byte[] _input = new byte[2 * OggPage.MaxLength];
    private int _inputLength;
    private readonly byte[] _packet = new byte[MaxPacketSize];
    private int _packetLength;
    private bool _packetOverflow;
    private readonly byte[] _out = new byte[MaxPacketSize];
    private int _headerPackets;
    private long _samples;

    // Completed packets of the current page, waiting to be read: (start, length) in _pageData.
    private readonly byte[] _pageData = new byte[OggPage.MaxLength];
    private readonly (int Start, int Length)[] _ready = new (int, int)[255];
    private int _readyCount;
    private int _readyNext;

    /// <summary>Channel count from OpusHead (0 until it was read).</summary>
    public int Channels { get; private set; }

    /// <summary>Pre-skip from OpusHead (48 kHz samples to discard at the start).</summary>
    public int PreSkip { get; private set; }

    /// <summary>Pages with a bad CRC or a broken capture pattern that were skipped.</summary>
    public long BadPages { get; private set; }

    /// <summary>Packets dropped for size or because their start was lost.</summary>
    public long DroppedPackets { get; private set; }

    /// <summary>Appends stream bytes; returns how many were taken (call <see cref="TryRead"/> until false, then write the rest).</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, _input.Length - _inputLength);
        data[..n].CopyTo(_input.AsSpan(_inputLength));
        _inputLength += n;
        return n;
    }

    /// <summary>
    /// Returns the next Opus audio packet (valid until the next call) and the position of its first sample in 48 kHz
    /// samples since the stream start.
    /// </summary>
    public bool TryRead(out ReadOnlySpan<byte> packet, out long samplePosition)
    {
        packet = default;
        samplePosition = 0;
        while (true)
        {
            while (_readyNext < _readyCount)
            {
                var (start, length) = _ready[_readyNext++];
                var p = _pageData.AsSpan(start, length);
                if (_headerPackets == 0)
                {
                    _headerPackets++;
                    if (p.Length >= 19 && p.StartsWith("OpusHead"u8))
                    {
                        Channels = p[9];
                        PreSkip = BinaryPrimitives.ReadUInt16LittleEndian(p[10..]);
                    }
                    continue;
                }
                if (_headerPackets == 1)
                {
                    _headerPackets++;
                    if (p.StartsWith("OpusTags"u8))
                        continue;
                }
                int duration = OpusPacket.GetSampleCount(p);
                if (duration <= 0)
                {
                    DroppedPackets++;
                    continue;
                }
                samplePosition = _samples;
                _samples += duration;
                p.CopyTo(_out);
                packet = _out.AsSpan(0, p.Length);
                return true;
            }
            if (!NextPage())
                return false;
        }
    }

    private bool NextPage()
    {
        while (true)
        {
            var input = _input.AsSpan(0, _inputLength);
            if (!OggPage.TryRead(input, out var page, out bool valid))
            {
                if (_inputLength == _input.Length)
                    Consume(1); // cannot happen with a 2-page buffer, kept as a guard against a stall
                return false;
            }
            if (!valid)
            {
                BadPages++;
                int next = input[1..].IndexOf("OggS"u8);
                Consume(next < 0 ? Math.Max(1, _inputLength - 3) : next + 1);
                _packetLength = 0;
                _packetOverflow = true; // the packet in progress lost its continuation
                continue;
            }
            _readyCount = 0;
            _readyNext = 0;
            int dataOffset = page.HeaderLength;
            int outLength = 0;
            if ((page.HeaderType & OggPage.Continued) == 0 && _packetLength > 0)
            {
                DroppedPackets++;
                _packetLength = 0;
            }
            if ((page.HeaderType & OggPage.Continued) == 0)
                _packetOverflow = false;
            for (int i = 0; i < page.SegmentCount; i++)
            {
                int lace = input[27 + i];
                if (!_packetOverflow)
                {
                    if (_packetLength + lace > MaxPacketSize)
                    {
                        _packetOverflow = true;
                        _packetLength = 0;
                    }
                    else
                    {
                        input.Slice(dataOffset, lace).CopyTo(_packet.AsSpan(_packetLength));
                        _packetLength += lace;
                    }
                }
                dataOffset += lace;
                if (lace < 255)
                {
                    if (_packetOverflow)
                    {
                        DroppedPackets++;
                    }
                    else if (outLength + _packetLength <= _pageData.Length && _readyCount < _ready.Length)
                    {
                        _packet.AsSpan(0, _packetLength).CopyTo(_pageData.AsSpan(outLength));
                        _ready[_readyCount++] = (outLength, _packetLength);
                        outLength += _packetLength;
                    }
                    _packetLength = 0;
                    _packetOverflow = false;
                }
            }
            Consume(page.TotalLength);
            if (_readyCount > 0)
                return true;
        }
    }

    private void Consume(int count)
    {
        _input.AsSpan(count, _inputLength - count).CopyTo(_input);
        _inputLength -= count;
    }
}
