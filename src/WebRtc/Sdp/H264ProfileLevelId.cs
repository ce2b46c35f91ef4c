using System.Globalization;

namespace OspBridge.WebRtc.Sdp;

/// <summary>The H.264 profiles WebRTC negotiates, as classified from <c>profile-level-id</c> (RFC 6184 §8.1, H.264 Annex A).</summary>
public enum H264Profile
{
    /// <summary>Constrained Baseline (42e0xx, 4240xx, 4de0xx, 58cxxx...).</summary>
    ConstrainedBaseline,
    /// <summary>Baseline (42xxxx without constraint_set1).</summary>
    Baseline,
    /// <summary>Main (4dxxxx).</summary>
    Main,
    /// <summary>Constrained High (640cxx).</summary>
    ConstrainedHigh,
    /// <summary>High (64xxxx).</summary>
    High,
    /// <summary>Predictive High 4:4:4 (f4xxxx).</summary>
    PredictiveHigh444,
}

/// <summary>
/// A parsed H.264 <c>profile-level-id</c> (three hex octets: profile_idc, profile-iop, level_idc). Two descriptions
/// negotiate when their <see cref="Profile"/>s are equal (RFC 6184 §8.2.2: the profile must match; the level may
/// differ, and with <c>level-asymmetry-allowed=1</c> each side may send at its own level).
/// </summary>
/// <param name="Profile">The classified profile.</param>
/// <param name="ProfileIdc">profile_idc.</param>
/// <param name="ProfileIop">The constraint flags octet.</param>
/// <param name="Level">level_idc (e.g. 31 = 0x1f for level 3.1).</param>
public readonly record struct H264ProfileLevelId(H264Profile Profile, byte ProfileIdc, byte ProfileIop, byte Level)
{
    /// <summary>RFC 6184's default when the parameter is absent: 42000a (Baseline, level 1.0).</summary>
    public static H264ProfileLevelId Default => new(H264Profile.Baseline, 0x42, 0x00, 0x0a);

    /// <summary>Parses six hex digits; false for malformed text or a profile WebRTC does not use.</summary>
    public static bool TryParse(string? text, out H264ProfileLevelId value)
    {
        value = default;
        if (text is null || text.Length != 6 || !uint.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint v)) return false;
        byte idc = (byte)(v >> 16), iop = (byte)(v >> 8), level = (byte)v;
        H264Profile? p = null;
        // The constraint-set bits decide between the baseline-family profiles (H.264 A.2.1/A.2.2, as libwebrtc classifies them):
        // constraint_set1 (0x40) on a 42/4d/58 stream means it is decodable by a Constrained Baseline decoder.
        switch (idc)
        {
            case 0x42: p = (iop & 0x40) != 0 ? H264Profile.ConstrainedBaseline : H264Profile.Baseline; break;
            case 0x4d: p = (iop & 0x80) != 0 ? H264Profile.ConstrainedBaseline : H264Profile.Main; break;
            case 0x58: p = (iop & 0xc0) == 0xc0 ? H264Profile.ConstrainedBaseline : (iop & 0x80) != 0 ? H264Profile.Baseline : null; break;
            case 0x64: p = (iop & 0x0c) == 0x0c ? H264Profile.ConstrainedHigh : H264Profile.High; break;
            case 0xf4: p = H264Profile.PredictiveHigh444; break;
        }
        if (p is null) return false;
        value = new H264ProfileLevelId(p.Value, idc, iop, level);
        return true;
    }

    /// <summary>Six lower-case hex digits.</summary>
    public override string ToString() => $"{ProfileIdc:x2}{ProfileIop:x2}{Level:x2}";
}
