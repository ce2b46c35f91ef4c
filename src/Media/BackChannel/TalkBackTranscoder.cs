using Concentus;
using OspBridge.Media.Formats;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.BackChannel;

/// <summary>
/// Talk-back Opus (48 kHz, RFC 7587) → G.711 at 8 kHz for a camera's back channel: Concentus decodes each packet to
/// mono 48 kHz PCM (a TOC-only packet — the playout's concealment marker — or an undecodable one is concealed by the
/// decoder's PLC), a 63-tap windowed-sinc low-pass (cut-off 3.6 kHz) decimates by 6, and μ-law or A-law companding
/// gives one octet per sample. Output is taken in 20 ms frames (160 octets). Memory is fixed: one decode buffer
/// (120 ms), the filter history and a one-second output ring (older output is dropped, counted). Not thread-safe.
/// </summary>
internal sealed class TalkBackTranscoder
{
    /// <summary>Samples (= octets) in one 20 ms G.711 frame.</summary>
    public const int FrameSamples = 160;

    private const int Taps = 63;
    private const int Decimation = 6;
    private const int MaxOpusSamples = 5760; // 120 ms at 48 kHz
    private const int RingSize = 8000;
    private static readonly float[] Filter = MakeFilter();

    private readonly MediaCodec _codec;
    private readonly IOpusDecoder _decoder = OpusCodecFactory.CreateDecoder(48000, 1);
    private readonly short[] _pcm = new short[MaxOpusSamples];
    private readonly float[] _history = new float[Taps];
    private readonly byte[] _ring = new byte[RingSize];
    private int _historyAt;
    private int _phase;
    private int _ringStart;
    private int _ringCount;

    /// <summary>Creates a transcoder to <paramref name="codec"/> (<see cref="MediaCodec.Pcmu"/> or <see cref="MediaCodec.Pcma"/>).</summary>
    public TalkBackTranscoder(MediaCodec codec)
    {
        if (codec is not (MediaCodec.Pcmu or MediaCodec.Pcma))
            throw new ArgumentOutOfRangeException(nameof(codec), codec, "G.711 only");
        _codec = codec;
    }

    /// <summary>Opus packets that did not decode (concealed instead).</summary>
    public long DecodeErrors { get; private set; }

    /// <summary>8 kHz samples dropped because the output ring was full (nobody took frames).</summary>
    public long SamplesDropped { get; private set; }

    /// <summary>Complete 20 ms frames waiting.</summary>
    public int FramesReady => _ringCount / FrameSamples;

    /// <summary>Decodes one Opus packet and appends its 8 kHz G.711 samples.</summary>
    public void Push(ReadOnlySpan<byte> opus)
    {
        int samples = OpusPacket.GetSampleCount(opus);
        if (samples is <= 0 or > MaxOpusSamples)
            samples = 960;
        int n;
        try
        {
            // a TOC-only packet (code 0, no frame data) is a lost frame: the decoder conceals it
            n = opus.Length <= 1 ? _decoder.Decode(ReadOnlySpan<byte>.Empty, _pcm, samples) : _decoder.Decode(opus, _pcm, MaxOpusSamples);
        }
        catch (OpusException)
        {
            DecodeErrors++;
            n = SafeConceal(samples);
        }
        catch (ArgumentException)
        {
            DecodeErrors++;
            n = SafeConceal(samples);
        }
        for (int i = 0; i < n; i++)
            Decimate(_pcm[i]);
    }

    /// <summary>Takes one 20 ms frame (160 octets) into <paramref name="destination"/>; false when fewer are waiting.</summary>
    public bool TryTakeFrame(Span<byte> destination)
    {
        if (_ringCount < FrameSamples || destination.Length < FrameSamples)
            return false;
        for (int i = 0; i < FrameSamples; i++)
            destination[i] = _ring[(_ringStart + i) % RingSize];
        _ringStart = (_ringStart + FrameSamples) % RingSize;
        _ringCount -= FrameSamples;
        return true;
    }

    private int SafeConceal(int samples)
    {
        try
        {
            return _decoder.Decode(ReadOnlySpan<byte>.Empty, _pcm, samples);
        }
        catch (OpusException)
        {
            _pcm.AsSpan(0, samples).Clear();
            return samples;
        }
    }

    private void Decimate(short sample)
    {
        _history[_historyAt] = sample;
        _historyAt = (_historyAt + 1) % Taps;
        if (++_phase < Decimation)
            return;
        _phase = 0;
        float acc = 0;
        int at = _historyAt; // oldest
        for (int k = 0; k < Taps; k++)
        {
            acc += Filter[k] * _history[at];
            if (++at == Taps)
                at = 0;
        }
        short s = (short)Math.Clamp(MathF.Round(acc), short.MinValue, short.MaxValue);
        byte octet = _codec == MediaCodec.Pcmu ? G711.EncodeMuLaw(s) : G711.EncodeALaw(s);
        if (_ringCount == RingSize)
        {
            _ringStart = (_ringStart + 1) % RingSize;
            _ringCount--;
            SamplesDropped++;
        }
        _ring[(_ringStart + _ringCount) % RingSize] = octet;
        _ringCount++;
    }

    /// <summary>Hamming-windowed sinc, cut-off 3600 Hz at 48 kHz, unity DC gain.</summary>
    private static float[] MakeFilter()
    {
        var h = new float[Taps];
        double fc = 3600.0 / 48000.0, sum = 0;
        int mid = Taps / 2;
        for (int k = 0; k < Taps; k++)
        {
            int m = k - mid;
            double sinc = m == 0 ? 2 * fc : Math.Sin(2 * Math.PI * fc * m) / (Math.PI * m);
            double window = 0.54 - (0.46 * Math.Cos(2 * Math.PI * k / (Taps - 1)));
            h[k] = (float)(sinc * window);
            sum += h[k];
        }
        for (int k = 0; k < Taps; k++)
            h[k] = (float)(h[k] / sum);
        return h;
    }
}
