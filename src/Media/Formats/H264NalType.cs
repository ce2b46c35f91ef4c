namespace OspBridge.Media.Formats;

/// <summary>The H.264 nal_unit_type values the media layer looks at (ITU-T H.264 Table 7-1).</summary>
public static class H264NalType
{
    /// <summary>Coded slice of a non-IDR picture.</summary>
    public const int Slice = 1;

    /// <summary>Coded slice of an IDR picture (a keyframe).</summary>
    public const int Idr = 5;

    /// <summary>Supplemental enhancement information.</summary>
    public const int Sei = 6;

    /// <summary>Sequence parameter set.</summary>
    public const int Sps = 7;

    /// <summary>Picture parameter set.</summary>
    public const int Pps = 8;

    /// <summary>Access unit delimiter.</summary>
    public const int Aud = 9;
}
