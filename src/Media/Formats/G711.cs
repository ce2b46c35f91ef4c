namespace OspBridge.Media.Formats;

/// <summary>
/// ITU-T G.711 companding of 16-bit linear PCM: μ-law (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8),
/// RFC 3551 §4.5.14. One octet per sample, 8 kHz. Encoders follow the ITU-T reference segment tables
/// (μ-law: bias 0x84, clip 32635, all bits inverted; A-law: even bits inverted with 0x55).
/// </summary>
internal static class G711
{
    private const int MuLawBias = 0x84;
    private const int MuLawClip = 32635;

    /// <summary>Encodes one sample as μ-law.</summary>
    public static byte EncodeMuLaw(short sample)
    {
        int pcm = sample;
        int sign = (pcm >> 8) & 0x80;
        if (sign != 0)
            pcm = -pcm;
        if (pcm > MuLawClip)
            pcm = MuLawClip;
        pcm += MuLawBias;
        int exponent = Segment(pcm >> 7);
        int mantissa = (pcm >> (exponent + 3)) & 0x0F;
        return (byte)~(sign | (exponent << 4) | mantissa);
    }

    /// <summary>Decodes one μ-law octet.</summary>
    public static short DecodeMuLaw(byte value)
    {
        int u = ~value & 0xFF;
        int t = (((u & 0x0F) << 3) + MuLawBias) << ((u & 0x70) >> 4);
        return (short)((u & 0x80) != 0 ? MuLawBias - t : t - MuLawBias);
    }

    /// <summary>Encodes one sample as A-law.</summary>
    public static byte EncodeALaw(short sample)
    {
        int pcm = sample >> 3; // 13-bit magnitude domain
        int mask = 0xD5; // positive: sign bit set, even bits inverted
        if (pcm < 0)
        {
            mask = 0x55;
            pcm = -pcm - 1;
        }
        int segment = pcm < 32 ? 0 : Segment(pcm >> 5) + 1; // segment ends 0x1F, 0x3F, 0x7F … 0xFFF
        int value = segment << 4;
        value |= segment < 2 ? (pcm >> 1) & 0x0F : (pcm >> segment) & 0x0F;
        return (byte)(value ^ mask);
    }

    /// <summary>Decodes one A-law octet.</summary>
    public static short DecodeALaw(byte value)
    {
        int a = value ^ 0x55;
        int t = (a & 0x0F) << 4;
        int segment = (a & 0x70) >> 4;
        t = segment switch
        {
            0 => t + 8,
            1 => t + 0x108,
            _ => (t + 0x108) << (segment - 1),
        };
        return (short)((a & 0x80) != 0 ? t : -t);
    }

    /// <summary>Position of the highest set bit of <paramref name="v"/> (0..7), 0 for 0; v &lt; 256.</summary>
    private static int Segment(int v)
    {
        int s = 0;
        while (v > 1 && s < 7)
        {
            v >>= 1;
            s++;
        }
        return s;
    }
}
