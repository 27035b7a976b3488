/*
 * glossary.c - the built-in Chinese → English shopping glossary.
 *
 * Rules for an entry: the word is one a shopper or a furniture catalog
 * uses; CC-CEDICT either lacks it or puts another sense first; the English
 * is what an English product title would say. Grouped by theme; the order
 * does not matter (the bridge hashes the table).
 */
#include "text/glossary.h"

static const struct vt_gloss_entry table[] = {
    /* Particles and fillers: no meaning for retrieval. */
    {"的", ""}, {"了", ""}, {"着", ""}, {"过", ""}, {"地", ""}, {"得", ""},
    {"吗", ""}, {"呢", ""}, {"吧", ""}, {"啊", ""}, {"呀", ""}, {"嘛", ""},
    {"很", ""}, {"也", ""}, {"都", ""}, {"就", ""}, {"还", ""}, {"又", ""},
    {"这", ""}, {"那", ""}, {"这个", ""}, {"那个", ""}, {"这款", ""}, {"款", ""},
    {"个", ""}, {"一个", ""}, {"一款", ""}, {"把", ""}, {"被", ""}, {"张", ""},
    {"一张", ""}, {"件", ""}, {"一件", ""}, {"套", "set"}, {"是", ""},

    /* Function words whose CC-CEDICT first sense is off. */
    {"带", "with"}, {"有", "with"}, {"和", "and"}, {"与", "and"}, {"或", "or"},
    {"适合", "for"}, {"适用", "for"}, {"用于", "for"}, {"可", ""}, {"可以", "can"},
    {"想", "want"}, {"想要", "want"}, {"买", "buy"}, {"求", "looking for"},
    {"推荐", "recommend"}, {"有点", "a bit"}, {"不", "not"}, {"没有", "no"},
    {"到", "to"}, {"至", "to"}, {"以内", "under"}, {"以下", "under"}, {"以上", "over"}, {"左右", "about"},

    /* Units. */
    {"米", "meter"}, {"厘米", "cm"}, {"公分", "cm"}, {"毫米", "mm"},
    {"宽", "wide"}, {"宽度", "width"}, {"长度", "length"}, {"高度", "height"},
    {"深度", "depth"}, {"尺寸", "size"}, {"尺码", "size"}, {"颜色", "colour"},
    {"材质", "material"}, {"价格", "price"}, {"元", "yuan"}, {"块", "yuan"}, {"块钱", "yuan"}, {"寸", "inch"}, {"英寸", "inch"},

    /* Rooms and places. */
    {"客厅", "living room"}, {"起居室", "living room"}, {"卧室", "bedroom"},
    {"主卧", "master bedroom"}, {"次卧", "bedroom"}, {"儿童房", "kids room"},
    {"书房", "study"}, {"餐厅", "dining room"}, {"厨房", "kitchen"},
    {"卫生间", "bathroom"}, {"洗手间", "bathroom"}, {"浴室", "bathroom"},
    {"阳台", "balcony"}, {"玄关", "entryway"}, {"户外", "outdoor"},
    {"室外", "outdoor"}, {"花园", "garden"}, {"庭院", "garden"},
    {"办公室", "office"}, {"小户型", "small apartment"},

    /* Furniture. */
    {"沙发", "sofa"}, {"布艺沙发", "fabric sofa"}, {"真皮沙发", "leather sofa"},
    {"转角沙发", "corner sofa"}, {"沙发床", "sofa bed"}, {"贵妃椅", "chaise longue"},
    {"茶几", "coffee table"}, {"边几", "side table"}, {"角几", "side table"},
    {"咖啡桌", "coffee table"}, {"餐桌", "dining table"}, {"餐桌椅", "dining set"},
    {"餐椅", "dining chair"}, {"书桌", "desk"}, {"写字台", "desk"},
    {"办公桌", "office desk"}, {"电脑桌", "computer desk"}, {"学习桌", "study desk"},
    {"桌子", "table"}, {"桌", "table"}, {"椅子", "chair"}, {"椅", "chair"},
    {"办公椅", "office chair"}, {"电脑椅", "office chair"}, {"扶手椅", "armchair"},
    {"躺椅", "lounge chair"}, {"摇椅", "rocking chair"}, {"吧椅", "bar stool"},
    {"吧台", "bar counter"}, {"凳子", "stool"}, {"凳", "stool"}, {"长凳", "bench"},
    {"床", "bed"}, {"双人床", "double bed"}, {"单人床", "single bed"},
    {"上下床", "bunk bed"}, {"婴儿床", "crib"}, {"床垫", "mattress"},
    {"床头柜", "nightstand"}, {"床头", "headboard"}, {"衣柜", "wardrobe"},
    {"衣橱", "wardrobe"}, {"衣帽间", "walk-in closet"}, {"衣帽架", "coat rack"},
    {"衣架", "coat hanger"}, {"柜子", "cabinet"}, {"柜", "cabinet"},
    {"橱柜", "kitchen cabinet"}, {"斗柜", "chest of drawers"}, {"五斗柜", "chest of drawers"},
    {"抽屉", "drawer"}, {"鞋柜", "shoe cabinet"}, {"电视柜", "TV stand"},
    {"书柜", "bookcase"}, {"书架", "bookshelf"}, {"置物架", "shelf"}, {"搁板", "shelf"},
    {"梳妆台", "dressing table"}, {"镜子", "mirror"}, {"穿衣镜", "full-length mirror"},
    {"屏风", "folding screen"}, {"收纳", "storage"}, {"收纳盒", "storage box"},
    {"收纳架", "storage rack"}, {"榻榻米", "tatami"},

    /* Lighting and decoration. */
    {"灯", "lamp"}, {"灯具", "lighting"}, {"台灯", "desk lamp"}, {"落地灯", "floor lamp"},
    {"吊灯", "pendant lamp"}, {"吸顶灯", "ceiling light"}, {"壁灯", "wall lamp"},
    {"路灯", "street lamp"}, {"地毯", "rug"}, {"窗帘", "curtain"}, {"抱枕", "cushion"},
    {"靠垫", "cushion"}, {"坐垫", "seat cushion"}, {"枕头", "pillow"}, {"被子", "duvet"},
    {"床单", "bed sheet"}, {"花瓶", "vase"}, {"盆栽", "potted plant"}, {"绿植", "plant"},
    {"挂画", "wall art"}, {"装饰画", "wall art"}, {"相框", "picture frame"},
    {"挂钟", "wall clock"},

    /* Bathroom and kitchen. */
    {"马桶", "toilet"}, {"坐便器", "toilet"}, {"浴缸", "bathtub"}, {"淋浴", "shower"},
    {"花洒", "shower head"}, {"洗脸盆", "washbasin"}, {"洗手盆", "washbasin"},
    {"浴室柜", "bathroom cabinet"}, {"镜柜", "mirror cabinet"}, {"水槽", "sink"},
    {"水龙头", "faucet"}, {"冰箱", "refrigerator"}, {"洗碗机", "dishwasher"},
    {"微波炉", "microwave"}, {"烤箱", "oven"}, {"灶台", "stove"}, {"油烟机", "range hood"},
    {"洗衣机", "washing machine"},

    /* Materials. */
    {"真皮", "leather"}, {"皮革", "leather"}, {"牛皮", "leather"}, {"皮", "leather"},
    {"头层", "top-grain"}, {"人造革", "faux leather"}, {"布艺", "fabric"}, {"布", "fabric"},
    {"实木", "solid wood"}, {"原木", "natural wood"}, {"木", "wood"}, {"木质", "wooden"},
    {"红木", "mahogany"}, {"柚木", "teak"}, {"橡木", "oak"}, {"胡桃木", "walnut"},
    {"松木", "pine"}, {"榉木", "beech"}, {"樱桃木", "cherry wood"}, {"竹", "bamboo"},
    {"藤", "rattan"}, {"藤编", "rattan"}, {"大理石", "marble"}, {"岩板", "sintered stone"},
    {"玻璃", "glass"}, {"钢化玻璃", "tempered glass"}, {"不锈钢", "stainless steel"},
    {"金属", "metal"}, {"铁艺", "wrought iron"}, {"铁", "iron"}, {"铝", "aluminium"},
    {"亚麻", "linen"}, {"棉麻", "cotton linen"}, {"纯棉", "cotton"}, {"棉", "cotton"},
    {"羊毛", "wool"}, {"丝绸", "silk"}, {"丝绒", "velvet"}, {"天鹅绒", "velvet"},
    {"绒布", "velvet"}, {"塑料", "plastic"}, {"陶瓷", "ceramic"}, {"乳胶", "latex"},
    {"海绵", "foam"}, {"记忆棉", "memory foam"},

    /* Colours CC-CEDICT renders oddly or in US spelling only. */
    {"灰色", "grey"}, {"灰", "grey"}, {"米色", "beige"}, {"米白", "off-white"},
    {"咖啡色", "brown"}, {"棕色", "brown"}, {"原木色", "natural wood"},
    {"深色", "dark"}, {"浅色", "light"}, {"彩色", "colourful"},

    /* Styles and qualities. */
    {"简约", "minimalist"}, {"现代", "modern"}, {"北欧", "nordic"},
    {"中式", "chinese style"}, {"新中式", "modern chinese style"},
    {"美式", "american style"}, {"欧式", "european style"}, {"日式", "japanese style"},
    {"复古", "vintage"}, {"工业风", "industrial"}, {"轻奢", "luxury"},
    {"舒服", "comfortable"}, {"舒适", "comfortable"}, {"结实", "sturdy"},
    {"耐用", "durable"}, {"实惠", "affordable"}, {"性价比", "value for money"},
    {"便宜", "cheap"}, {"小型", "small"}, {"大号", "large"}, {"小号", "small"},
    {"可折叠", "foldable"}, {"折叠", "folding"}, {"升降", "adjustable height"},
    {"伸缩", "extendable"}, {"转角", "corner"}, {"三人位", "three-seater"},
    {"双人位", "loveseat"}, {"单人位", "single seat"}, {"家用", "home"},
    {"儿童", "kids"}, {"婴儿", "baby"},

    /* Reviews and service. */
    {"做工", "workmanship"}, {"质量", "quality"}, {"安装", "installation"},
    {"物流", "shipping"}, {"快递", "delivery"}, {"发货", "shipping"},
    {"包邮", "free shipping"}, {"送货上门", "home delivery"}, {"好评", "good review"},
    {"差评", "bad review"}, {"退货", "return"}, {"客服", "customer service"},
};

const struct vt_gloss_entry *vt_glossary_zh_en(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}
