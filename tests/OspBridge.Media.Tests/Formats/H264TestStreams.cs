using OspBridge.Media.Formats;

namespace OspBridge.Media.Tests.Formats;

/// <summary>Builds synthetic H.264 Annex B streams (valid NAL headers, payload bytes free of start codes).</summary>
internal static class H264TestStreams
{
    /// <summary>An SPS for 640x360 baseline level 3.0 written bit by bit from ITU-T H.264 §7.3.2.1.1.</summary>
    public static byte[] Sps640x360()
    {
        var w = new BitWriter();
        w.Bits(0x67, 8);   // forbidden 0, nal_ref_idc 3, type 7
        w.Bits(66, 8);     // profile_idc baseline
        w.Bits(0xC0, 8);   // constraint_set0/1
        w.Bits(30, 8);     // level_idc 3.0
        w.Ue(0);           // seq_parameter_set_id
        w.Ue(0);           // log2_max_frame_num_minus4
        w.Ue(2);           // pic_order_cnt_type 2
        w.Ue(1);           // max_num_ref_frames
        w.Bits(0, 1);      // gaps_in_frame_num_value_allowed_flag
        w.Ue(39);          // pic_width_in_mbs_minus1 → 640
        w.Ue(22);          // pic_height_in_map_units_minus1 → 368
        w.Bits(1, 1);      // frame_mbs_only_flag
        w.Bits(1, 1);      // direct_8x8_inference_flag
        w.Bits(1, 1);      // frame_cropping_flag
        w.Ue(0);
        w.Ue(0);
        w.Ue(0);
        w.Ue(4);           // bottom crop 4 × 2 = 8 → 360
        w.Bits(0, 1);      // vui_parameters_present_flag
        w.Bits(1, 1);      // rbsp_stop_one_bit
        return w.ToArray();
    }

    public static readonly byte[] Pps = [0x68, 0xCE, 0x3C, 0x80];

    /// <summary>A slice NAL unit: header, first byte with first_mb_in_slice = 0 (bit '1'), then filler.</summary>
    public static byte[] Slice(bool idr, int size, byte fill)
    {
        var s = new byte[Math.Max(size, 3)];
        s[0] = idr ? (byte)0x65 : (byte)0x41;
        s[1] = 0x88;
        for (int i = 2; i < s.Length; i++)
            s[i] = (byte)(fill | 0x10); // never 0, so no start code inside
        return s;
    }

    /// <summary>An access unit: optional AUD, SPS+PPS for keyframes, one slice.</summary>
    public static byte[] AccessUnit(int index, bool withAud, int gop = 5, int sliceSize = 100)
    {
        var ms = new MemoryStream();
        void Nal(byte[] nal, bool fourByte)
        {
            ms.Write(fourByte ? [0, 0, 0, 1] : [0, 0, 1]);
            ms.Write(nal);
        }
        bool key = index % gop == 0;
        if (withAud)
            Nal([0x09, 0xF0], true);
        if (key)
        {
            Nal(Sps640x360(), true);
            Nal(Pps, false);
        }
        Nal(Slice(key, sliceSize + index, (byte)index), true);
        return ms.ToArray();
    }

    public static byte[] Stream(int count, bool withAud, out List<byte[]> units, int gop = 5)
    {
        units = [];
        var ms = new MemoryStream();
        for (int i = 0; i < count; i++)
        {
            var au = AccessUnit(i, withAud, gop);
            units.Add(au);
            ms.Write(au);
        }
        return ms.ToArray();
    }
}

internal sealed class BitWriter
{
    private readonly List<byte> _bytes = [];
    private int _current;
    private int _bits;

    public void Bits(uint value, int count)
    {
        for (int i = count - 1; i >= 0; i--)
        {
            _current = (_current << 1) | (int)((value >> i) & 1);
            if (++_bits == 8)
            {
                _bytes.Add((byte)_current);
                _current = 0;
                _bits = 0;
            }
        }
    }

    public void Ue(uint value)
    {
        uint v = value + 1;
        int len = 32 - System.Numerics.BitOperations.LeadingZeroCount(v);
        Bits(0, len - 1);
        Bits(v, len);
    }

    public byte[] ToArray()
    {
        var list = new List<byte>(_bytes);
        if (_bits > 0)
            list.Add((byte)(_current << (8 - _bits)));
        return [.. list];
    }
}
